// sdk-client.mjs - drives atlasd with an official MCP TypeScript SDK client.
//
//   node sdk-client.mjs v1|v2 http|stdio ATLAS_URL ATLAS_BIN
//
// v1: @modelcontextprotocol/sdk 1.x (revision 2025-11-25, sessions).
// v2: @modelcontextprotocol/client 2.x pinned to revision 2026-07-28
//     (stateless: server/discover, per-request _meta).
// http: Streamable HTTP at ATLAS_URL/mcp.  stdio: `ATLAS_BIN mcp`.
//
// Needs the agents echo-c and slow registered.  Prints one "ok - ..." or
// "FAIL - ..." line per check and exits non-zero on any failure.

const [sdk, transportKind, atlasUrl, atlasBin] = process.argv.slice(2);
let failures = 0;
const ok = (what) => console.log(`ok   - [${sdk}/${transportKind}] ${what}`);
const bad = (what) => {
  failures++;
  console.log(`FAIL - [${sdk}/${transportKind}] ${what}`);
};
const check = (cond, what) => (cond ? ok(what) : bad(what));

async function load() {
  if (sdk === "v1") {
    const { Client } = await import("@modelcontextprotocol/sdk/client/index.js");
    const { StreamableHTTPClientTransport } = await import(
      "@modelcontextprotocol/sdk/client/streamableHttp.js"
    );
    const { StdioClientTransport } = await import("@modelcontextprotocol/sdk/client/stdio.js");
    return { Client, StreamableHTTPClientTransport, StdioClientTransport, options: {} };
  }
  const m = await import("@modelcontextprotocol/client");
  const { StdioClientTransport } = await import("@modelcontextprotocol/client/stdio");
  return {
    Client: m.Client,
    StreamableHTTPClientTransport: m.StreamableHTTPClientTransport,
    StdioClientTransport,
    options: { versionNegotiation: { mode: { pin: "2026-07-28" } } },
  };
}

// every TCP request needs a token (docs/security.md); the e2e harness
// exports the admin token as ATLAS_TOKEN
const auth = process.env.ATLAS_TOKEN ? { Authorization: `Bearer ${process.env.ATLAS_TOKEN}` } : {};

async function jobs(agent, state) {
  const r = await fetch(`${atlasUrl}/api/v1/jobs?agent=${agent}&state=${state}&limit=100`, {
    headers: auth,
  });
  return (await r.json()).jobs.length;
}

async function main() {
  const { Client, StreamableHTTPClientTransport, StdioClientTransport, options } = await load();
  const transport =
    transportKind === "http"
      ? new StreamableHTTPClientTransport(new URL(`${atlasUrl}/mcp`), {
          requestInit: { headers: auth },
        })
      : new StdioClientTransport({
          command: atlasBin,
          args: ["--url", atlasUrl, "mcp"],
          env: process.env, // ATLAS_TOKEN: the CLI's token
          stderr: "inherit",
        });
  const client = new Client({ name: `atlas-interop-${sdk}`, version: "1.0.0" }, options);
  await client.connect(transport);
  ok(`connected (${client.getServerVersion?.()?.name ?? "?"})`);

  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name);
  check(names.includes("echo-c"), "tools/list has the agent echo-c");
  check(names.includes("atlas.registry.list"), "tools/list has atlas.registry.list");
  check(names.includes("atlas.exec.spawn"), "tools/list has atlas.exec.spawn");
  const echo = tools.find((t) => t.name === "echo-c");
  check(echo && echo.inputSchema && echo.inputSchema.type === "object", "echo-c has an inputSchema");

  const r1 = await client.callTool({ name: "echo-c", arguments: { hello: sdk } });
  check(!r1.isError && r1.structuredContent && r1.structuredContent.hello === sdk,
    `agent tool echo-c returns structuredContent ${JSON.stringify(r1.structuredContent)}`);
  check(Array.isArray(r1.content) && r1.content[0].type === "text", "agent tool returns text content");

  const r2 = await client.callTool({ name: "atlas.registry.list", arguments: {} });
  check(!r2.isError && Array.isArray(r2.structuredContent?.agents) &&
    r2.structuredContent.agents.some((a) => a.name === "echo-c"),
    "platform tool atlas.registry.list lists echo-c");

  const r3 = await client.callTool({ name: "atlas.schedule.migrate",
    arguments: { job: "job_nope", node: "n1" } });
  check(r3.isError === true && /no job job_nope/.test(r3.content?.[0]?.text ?? ""),
    "atlas.schedule.migrate refuses an unknown job as a tool error with the reason");

  // a platform tool's error result matches the tool's own outputSchema
  // (the 1.x client validates structuredContent even on isError)
  let r5, threw = null;
  try {
    r5 = await client.callTool({ name: "atlas.registry.describe", arguments: {} });
  } catch (e) {
    threw = e;
  }
  check(!threw && r5?.isError === true && r5?.structuredContent?.code === "schema-violation",
    `a platform tool's error reaches the client as a tool error (${threw ? threw.message : JSON.stringify(r5?.structuredContent)})`);

  const progress = [];
  const r4 = await call(client, { name: "slow", arguments: { ms: 300 } },
    { onprogress: (p) => progress.push(p) });
  check(!r4.isError && r4.structuredContent?.ms === 300, "slow agent returns its input");
  check(progress.length >= 1, `progress notifications received (${progress.length})`);

  const before = await jobs("slow", "cancelled");
  const ac = new AbortController();
  const pending = call(client, { name: "slow", arguments: { ms: 20000 } },
    { signal: ac.signal, timeout: 60000 });
  setTimeout(() => ac.abort("test cancels"), 700);
  let aborted = false;
  try {
    await pending;
  } catch {
    aborted = true;
  }
  check(aborted, "the aborted call rejects on the client");
  let cancelled = false;
  for (let i = 0; i < 100 && !cancelled; i++) {
    cancelled = (await jobs("slow", "cancelled")) > before;
    if (!cancelled) await new Promise((r) => setTimeout(r, 100));
  }
  check(cancelled, "the job behind the aborted call ends cancelled");

  await client.close();
  ok("closed");
}

// v1's callTool(params, resultSchema, options); v2's callTool(params, options).
function call(client, params, opts) {
  return sdk === "v1" ? client.callTool(params, undefined, opts) : client.callTool(params, opts);
}

main()
  .catch((e) => bad(`exception: ${e?.stack ?? e}`))
  .finally(() => process.exit(failures ? 1 : 0));
