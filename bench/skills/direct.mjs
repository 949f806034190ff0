// bench/skills/direct.mjs - the peer of an MCP-backed skill: the official
// TypeScript SDK client (1.x, Streamable HTTP) calling the same server's
// tool directly, n times in a row; prints {n, p50_us, p99_us, mean_us}.
//
//   INTEROP=tests/interop node direct.mjs URL TOOL ARGS_JSON N
// (the SDK is tests/interop's: imported by path, this file lives elsewhere)
const sdk = `${process.env.INTEROP}/node_modules/@modelcontextprotocol/sdk/dist/esm/client`;
const { Client } = await import(`${sdk}/index.js`);
const { StreamableHTTPClientTransport } = await import(`${sdk}/streamableHttp.js`);

const [url, tool, argsText, nText] = process.argv.slice(2);
const args = JSON.parse(argsText);
const n = Number(nText);
const client = new Client({ name: "bench-skills", version: "1.0.0" });
await client.connect(new StreamableHTTPClientTransport(new URL(url)));
for (let i = 0; i < 100; i++) await client.callTool({ name: tool, arguments: args });
const lat = [];
for (let i = 0; i < n; i++) {
  const t0 = process.hrtime.bigint();
  await client.callTool({ name: tool, arguments: args });
  lat.push(Number(process.hrtime.bigint() - t0) / 1000);
}
lat.sort((a, b) => a - b);
const mean = lat.reduce((a, b) => a + b, 0) / n;
console.log(JSON.stringify({ n, p50_us: lat[n >> 1], p99_us: lat[Math.min(n - 1, Math.floor((n * 99) / 100))], mean_us: mean }));
await client.close();
