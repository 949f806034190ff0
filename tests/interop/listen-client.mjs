// listen-client.mjs - change notifications from atlasd to an official MCP
// TypeScript SDK client while the agent named AGENT is registered from the
// directory DIR (by running `ATLAS_BIN register`):
//
// v2: @modelcontextprotocol/client 2.x, pinned to 2026-07-28, opens a
//     subscriptions/listen stream (tools/list_changed and resources/updated
//     of the agent's contract), then closes it;
// v1: @modelcontextprotocol/sdk 1.x (2025-11-25, a session) subscribes to
//     the contract with resources/subscribe and hears both on the
//     session's GET stream.
//
//   node listen-client.mjs v1|v2 http|stdio ATLAS_URL ATLAS_BIN AGENT DIR
//
// http: Streamable HTTP at ATLAS_URL/mcp.  stdio: `ATLAS_BIN mcp`.  Prints
// one "ok - ..." or "FAIL - ..." line per check (tests/e2e/t_mcp_listen.sh).
import { execFileSync } from "node:child_process";

const [sdk, transportKind, atlasUrl, atlasBin, agent, dir] = process.argv.slice(2);
let failures = 0;
const ok = (what) => console.log(`ok   - [${sdk}/${transportKind}] ${what}`);
const bad = (what) => {
  failures++;
  console.log(`FAIL - [${sdk}/${transportKind}] ${what}`);
};
const check = (cond, what) => (cond ? ok(what) : bad(what));
const auth = process.env.ATLAS_TOKEN ? { Authorization: `Bearer ${process.env.ATLAS_TOKEN}` } : {};

// resolves when pred() holds, or after ms (false)
function until(pred, ms) {
  return new Promise((resolve) => {
    const end = Date.now() + ms;
    const tick = () => {
      if (pred()) return resolve(true);
      if (Date.now() > end) return resolve(false);
      setTimeout(tick, 50);
    };
    tick();
  });
}

async function v1() {
  const { Client } = await import("@modelcontextprotocol/sdk/client/index.js");
  const { StreamableHTTPClientTransport } = await import("@modelcontextprotocol/sdk/client/streamableHttp.js");
  const { StdioClientTransport } = await import("@modelcontextprotocol/sdk/client/stdio.js");
  const types = await import("@modelcontextprotocol/sdk/types.js");
  const transport =
    transportKind === "http"
      ? new StreamableHTTPClientTransport(new URL(`${atlasUrl}/mcp`), { requestInit: { headers: auth } })
      : new StdioClientTransport({ command: atlasBin, args: ["--url", atlasUrl, "mcp"], env: process.env, stderr: "inherit" });
  const client = new Client({ name: "atlas-listen", version: "1.0.0" });
  const seen = [];
  client.setNotificationHandler(types.ToolListChangedNotificationSchema, () => seen.push("tools"));
  client.setNotificationHandler(types.ResourceUpdatedNotificationSchema, (n) => seen.push(`updated ${n.params.uri}`));
  await client.connect(transport);
  const uri = `atlas://agents/${agent}/contract`;
  await client.subscribeResource({ uri });
  ok("resources/subscribe accepted");
  // the SDK opens the session's GET stream in the background, with no
  // event to wait for: register again (every 2 s, for up to 30 s) until a
  // notification shows that it is up
  let heard = false;
  for (let i = 0; i < 15 && !heard; i++) {
    execFileSync(atlasBin, ["--url", atlasUrl, "register", "--path", dir, "--force"], { stdio: "ignore" });
    heard = await until(() => seen.includes("tools"), 2000);
  }
  check(heard, "tools/list_changed arrives after a registration");
  check(await until(() => seen.includes(`updated ${uri}`), 30000), "resources/updated arrives for the subscribed contract");
  await client.close();
}

async function v2() {
  const m = await import("@modelcontextprotocol/client");
  const { StdioClientTransport } = await import("@modelcontextprotocol/client/stdio");
  const transport =
    transportKind === "http"
      ? new m.StreamableHTTPClientTransport(new URL(`${atlasUrl}/mcp`), { requestInit: { headers: auth } })
      : new StdioClientTransport({
          command: atlasBin,
          args: ["--url", atlasUrl, "mcp"],
          env: process.env,
          stderr: "inherit",
        });
  const client = new m.Client(
    { name: "atlas-listen", version: "1.0.0" },
    { versionNegotiation: { mode: { pin: "2026-07-28" } } },
  );
  const seen = [];
  client.setNotificationHandler("notifications/tools/list_changed", () => seen.push("tools"));
  client.setNotificationHandler("notifications/prompts/list_changed", () => seen.push("prompts"));
  client.setNotificationHandler("notifications/resources/updated", (n) => seen.push(`updated ${n.params.uri}`));
  await client.connect(transport);
  const uri = `atlas://agents/${agent}/contract`;
  const sub = await client.listen({ toolsListChanged: true, resourceSubscriptions: [uri] });
  check(sub.honoredFilter.toolsListChanged === true, "the ack honours toolsListChanged");
  check(JSON.stringify(sub.honoredFilter.resourceSubscriptions) === JSON.stringify([uri]),
    "the ack honours the resource subscription");
  execFileSync(atlasBin, ["--url", atlasUrl, "register", "--path", dir, "--force"], { stdio: "ignore" });
  check(await until(() => seen.includes("tools"), 30000), "tools/list_changed arrives after a registration");
  check(await until(() => seen.includes(`updated ${uri}`), 30000), "resources/updated arrives for the contract");
  check(!seen.includes("prompts"), "nothing it did not ask for (prompts/list_changed)");
  const { tools } = await client.listTools();
  check(tools.some((t) => t.name === agent), "the new tool is listed");
  await sub.close();
  check((await sub.closed) === "local", "closed by the client");
  await client.close();
}

const main = sdk === "v1" ? v1 : v2;
main()
  .catch((e) => bad(`error: ${e.stack || e}`))
  .finally(() => process.exit(failures ? 1 : 0));
