// concurrent.mjs - N concurrent tools/call of one agent tool through one
// MCP client session to atlasd's /mcp, with progress requested, using an
// official TypeScript SDK client.
//
//   node concurrent.mjs v1|v2 ATLAS_URL TOOL N [cancel|ask|probe]
//
// TOOL is an agent registered from tests/interop/ts-server.mjs's `slow`
// tool.  Prints "ok - ..." / "FAIL - ..." lines: every call must succeed
// and (unless the remote drops it) report progress.  With "cancel", one
// call is aborted after its first progress notification and must end as
// cancelled (the remote's own log shows whether it was told).  With "ask",
// TOOL is ts-server's `ask`: the client answers the relayed elicitation
// with the name "Ada" (v1; the v2 client, stateless, cannot be asked: the
// call must fail clearly).  With "probe", TOOL is ts-server's `probe`:
// the remote's ping and roots/list must be answered, not time out.

const [sdk, atlasUrl, tool, nArg, mode] = process.argv.slice(2);
const n = Number(nArg);
let failures = 0;
const ok = (what) => console.log(`ok   - [${sdk} ${tool}] ${what}`);
const bad = (what) => {
  failures++;
  console.log(`FAIL - [${sdk} ${tool}] ${what}`);
};

async function connect() {
  if (sdk === "v1") {
    const { Client } = await import("@modelcontextprotocol/sdk/client/index.js");
    const { StreamableHTTPClientTransport } = await import(
      "@modelcontextprotocol/sdk/client/streamableHttp.js");
    const { ElicitRequestSchema } = await import("@modelcontextprotocol/sdk/types.js");
    const c = new Client({ name: "atlas-concurrent-v1", version: "1.0.0" },
      { capabilities: { elicitation: {} } });
    c.setRequestHandler(ElicitRequestSchema, async () => ({ action: "accept", content: { name: "Ada" } }));
    await c.connect(new StreamableHTTPClientTransport(new URL(`${atlasUrl}/mcp`)));
    return { call: (p, o) => c.callTool(p, undefined, o), close: () => c.close() };
  }
  const m = await import("@modelcontextprotocol/client");
  const c = new m.Client({ name: "atlas-concurrent-v2", version: "1.0.0" },
    { versionNegotiation: { mode: { pin: "2026-07-28" } } });
  await c.connect(new m.StreamableHTTPClientTransport(new URL(`${atlasUrl}/mcp`)));
  return { call: (p, o) => c.callTool(p, o), close: () => c.close() };
}

async function main() {
  const c = await connect();
  if (mode === "ask") {
    const r = await c.call({ name: tool, arguments: { question: "Your name?" } }, { timeout: 30000 });
    const text = JSON.stringify(r.content);
    if (sdk === "v1")
      (r.structuredContent?.answer === "Ada" ? ok : bad)(`the elicitation was relayed: ${text}`);
    else
      (r.isError && /needs input|no MCP client|elicitation/.test(text) ? ok : bad)(
        `without a client to ask, the call fails clearly: ${text}`);
    await c.close();
    return;
  }
  if (mode === "probe") {
    const t0 = Date.now();
    const r = await c.call({ name: tool, arguments: {} }, { timeout: 30000 });
    const sc = r.structuredContent ?? {};
    (sc.ping === "{}" ? ok : bad)(`the remote's ping was answered: ${sc.ping}`);
    (typeof sc.roots === "string" && !/timed out/i.test(sc.roots) && Date.now() - t0 < 10000 ? ok : bad)(
      `the remote's roots/list was answered: ${sc.roots}`);
    await c.close();
    return;
  }
  if (mode === "cancel") {
    const ac = new AbortController();
    let seen = 0;
    const t0 = Date.now();
    try {
      await c.call({ name: tool, arguments: { ms: 20000, steps: 40 } },
        { signal: ac.signal, timeout: 60000, onprogress: () => { if (seen++ === 0) ac.abort("test"); } });
      bad("the aborted call completed");
    } catch (e) {
      const ms = Date.now() - t0;
      (seen > 0 && ms < 15000 ? ok : bad)(`the call was aborted after progress (${seen} seen, ${ms} ms: ${e.message})`);
    }
    // the SDK sends notifications/cancelled without waiting: the session
    // stays open until Atlas has cancelled the job
    let cancelled = 0;
    for (let i = 0; i < 200 && !cancelled; i++) {
      const r = await fetch(`${atlasUrl}/api/v1/jobs?agent=${tool}&state=cancelled&limit=10`);
      cancelled = (await r.json()).jobs?.length ?? 0;
      if (!cancelled) await new Promise((res) => setTimeout(res, 50));
    }
    (cancelled > 0 ? ok : bad)("atlasd cancelled the job");
    await c.close();
    return;
  }
  const progress = new Array(n).fill(0);
  const t0 = Date.now();
  const results = await Promise.allSettled(
    Array.from({ length: n }, (_, i) =>
      c.call({ name: tool, arguments: { ms: 600, steps: 3 } },
        { timeout: 30000, onprogress: () => progress[i]++ })));
  const good = results.filter((r) => r.status === "fulfilled" && !r.value.isError &&
    r.value.structuredContent?.done === true).length;
  const why = results.map((r) => (r.status === "rejected" ? String(r.reason?.message ?? r.reason)
    : r.value.isError ? JSON.stringify(r.value.content) : "")).filter(Boolean);
  (good === n ? ok : bad)(`${good}/${n} concurrent calls succeeded in ${Date.now() - t0} ms` +
    (why.length ? `: ${why[0]}` : ""));
  const withProgress = progress.filter((p) => p > 0).length;
  (withProgress === n ? ok : bad)(`${withProgress}/${n} calls got progress`);
  await c.close();
}

main().then(() => process.exit(failures ? 1 : 0), (e) => {
  console.log(`FAIL - [${sdk} ${tool}] ${e.stack ?? e}`);
  process.exit(1);
});
