// elicit-client.mjs - an official MCP TypeScript SDK client calls the
// fixture agent `asker` (tests/agents/asker), which asks its caller on
// stdio (elicitation/create: the job's meta.input_required).
//
//   node elicit-client.mjs v1|v2 http|stdio ATLAS_URL ATLAS_BIN
//
// v1: @modelcontextprotocol/sdk 1.x (a 2025-11-25 session that declares
//     elicitation): atlasd relays the question as elicitation/create and
//     the client's answer reaches the agent (through the path of POST
//     /api/v1/jobs/ID/input).
// v2: @modelcontextprotocol/client 2.x (stateless 2026-07-28): relaying as
//     an input_required result is not supported yet, so the question waits
//     for the API, which this script answers (POST /api/v1/jobs/ID/input).
// Prints one "ok - ..." or "FAIL - ..." line per check (tests/e2e/t_mcp_tasks.sh).

const [sdk, transportKind, atlasUrl, atlasBin] = process.argv.slice(2);
let failures = 0;
const ok = (what) => console.log(`ok   - [${sdk}/${transportKind}] ${what}`);
const bad = (what) => {
  failures++;
  console.log(`FAIL - [${sdk}/${transportKind}] ${what}`);
};
const check = (cond, what) => (cond ? ok(what) : bad(what));
const auth = process.env.ATLAS_TOKEN ? { Authorization: `Bearer ${process.env.ATLAS_TOKEN}` } : {};

async function connect() {
  if (sdk === "v1") {
    const { Client } = await import("@modelcontextprotocol/sdk/client/index.js");
    const { StreamableHTTPClientTransport } = await import("@modelcontextprotocol/sdk/client/streamableHttp.js");
    const { StdioClientTransport } = await import("@modelcontextprotocol/sdk/client/stdio.js");
    const { ElicitRequestSchema } = await import("@modelcontextprotocol/sdk/types.js");
    const c = new Client({ name: "atlas-elicit", version: "1.0.0" }, { capabilities: { elicitation: {} } });
    const asked = [];
    c.setRequestHandler(ElicitRequestSchema, async (req) => {
      asked.push(req.params.message);
      return { action: "accept", content: { name: "Ada" } };
    });
    await c.connect(
      transportKind === "http"
        ? new StreamableHTTPClientTransport(new URL(`${atlasUrl}/mcp`), { requestInit: { headers: auth } })
        : new StdioClientTransport({ command: atlasBin, args: ["--url", atlasUrl, "mcp"], env: process.env, stderr: "inherit" }),
    );
    return { c, asked, call: (p) => c.callTool(p, undefined, { timeout: 60000 }) };
  }
  const m = await import("@modelcontextprotocol/client");
  const { StdioClientTransport } = await import("@modelcontextprotocol/client/stdio");
  const c = new m.Client({ name: "atlas-elicit", version: "1.0.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
  await c.connect(
    transportKind === "http"
      ? new m.StreamableHTTPClientTransport(new URL(`${atlasUrl}/mcp`), { requestInit: { headers: auth } })
      : new StdioClientTransport({ command: atlasBin, args: ["--url", atlasUrl, "mcp"], env: process.env, stderr: "inherit" }),
  );
  return { c, asked: [], call: (p) => c.callTool(p, { timeout: 60000 }) };
}

// the newest running asker job that waits for an answer (polled)
async function waitingJob(ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const r = await fetch(`${atlasUrl}/api/v1/jobs?agent=asker&state=running&limit=10`, { headers: auth });
    for (const j of (await r.json()).jobs) {
      const d = await (await fetch(`${atlasUrl}/api/v1/jobs/${j.id}`, { headers: auth })).json();
      if (d.meta && d.meta.input_required) return d;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return null;
}

async function main() {
  const { c, asked, call } = await connect();
  const pending = call({ name: "asker", arguments: { question: "Your name?" } });
  if (sdk === "v2") {
    const job = await waitingJob(30000);
    check(job && job.meta.input_required.message === "Your name?",
      "a stateless caller: the question waits in meta.input_required");
    if (job) {
      const r = await fetch(`${atlasUrl}/api/v1/jobs/${job.id}/input`, {
        method: "POST",
        headers: { ...auth, "Content-Type": "application/json" },
        body: JSON.stringify({ input: { name: "Ada" } }),
      });
      check(r.status === 200, `answered through POST /api/v1/jobs/ID/input (${r.status})`);
    }
  }
  const res = await pending;
  const answer = res.structuredContent && res.structuredContent.answer;
  check(!res.isError && answer && answer.action === "accept" && answer.content.name === "Ada",
    `the agent got the answer: ${JSON.stringify(res.structuredContent ?? res.content)}`);
  if (sdk === "v1") check(asked.length === 1 && asked[0] === "Your name?", `the client was asked once, with the question: ${JSON.stringify(asked)}`);
  await c.close();
}

main()
  .catch((e) => bad(`error: ${e.stack || e}`))
  .finally(() => process.exit(failures ? 1 : 0));
