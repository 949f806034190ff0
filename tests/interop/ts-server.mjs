// ts-server.mjs - an MCP server built with the official TypeScript SDK,
// exposing tools over Streamable HTTP at /mcp:
//   echo  {text}          returns its text
//   slow  {ms, steps?}    waits ms, sending `steps` progress notifications
//                         when asked; on cancellation prints "cancelled" and
//                         gives up
//   ask   {question}      asks the client for a name (elicitation: a
//                         server-to-client request in v1, an input_required
//                         result in v2) and returns {answer}
//   meta  {}              (v1) the _meta keys the call carried
//   probe {}              (v1) pings the client and lists its roots: returns
//                         what each answered
//
//   node ts-server.mjs v1|v2 PORT
//
// v1: @modelcontextprotocol/sdk 1.x, session mode (Mcp-Session-Id, one
//     transport per session; SSE responses, as the SDK does by default).
// v2: @modelcontextprotocol/server 2.x, createMcpHandler (stateless
//     2026-07-28, with its stateless 2025 fallback).
// TS_REQUIRE="name=value;name=value" (optional): a request without each of
// those headers is answered 401 with WWW-Authenticate (a server that wants
// credentials, for tests/e2e/t_skills_mcp_http.sh).
// Prints "listening http://127.0.0.1:PORT/mcp" on stdout once ready.  Used by
// tests/e2e/t_mcp_remote.sh (registered with `atlas register --remote`) and
// by bench/mcp (the peer Atlas is compared with).

import http from "node:http";
import { randomUUID } from "node:crypto";
import { z } from "zod";

const [mode, portArg] = process.argv.slice(2);
const port = Number(portArg || 0);

const echoTool = {
  description: "Returns its text",
  inputSchema: { text: z.string().describe("what to echo") },
  outputSchema: { text: z.string() },
};
const echo = async ({ text }) => ({
  structuredContent: { text },
  content: [{ type: "text", text: JSON.stringify({ text }) }],
});

const slowTool = {
  description: "Waits, reporting progress",
  inputSchema: { ms: z.number(), steps: z.number().optional() },
  outputSchema: { done: z.boolean(), ms: z.number() },
};
const askTool = {
  description: "Asks the user for a name",
  inputSchema: { question: z.string() },
  outputSchema: { answer: z.string() },
};
const probeTool = {
  description: "Pings the client and lists its roots",
  inputSchema: {},
  outputSchema: { ping: z.string(), roots: z.string() },
};
const structured = (v) => ({ structuredContent: v, content: [{ type: "text", text: JSON.stringify(v) }] });

// slow: (args, {token, notify, signal})
async function slow({ ms, steps }, { token, notify, signal }) {
  const n = steps ?? 0;
  const wait = (t) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, t);
      signal?.addEventListener("abort", () => {
        clearTimeout(timer);
        reject(new Error("cancelled"));
      }, { once: true });
    });
  try {
    for (let i = 1; i <= n; i++) {
      await wait(ms / (n + 1));
      if (token !== undefined)
        await notify({ method: "notifications/progress",
                       params: { progressToken: token, progress: i, total: n, message: `step ${i}` } });
    }
    await wait(n ? ms / (n + 1) : ms);
  } catch (e) {
    console.log("cancelled");
    throw e;
  }
  return structured({ done: true, ms });
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

async function v1Handler() {
  const { McpServer } = await import("@modelcontextprotocol/sdk/server/mcp.js");
  const { StreamableHTTPServerTransport } = await import(
    "@modelcontextprotocol/sdk/server/streamableHttp.js"
  );
  const { ElicitResultSchema, EmptyResultSchema, ListRootsResultSchema } = await import(
    "@modelcontextprotocol/sdk/types.js");
  const transports = new Map();
  return async (req, res) => {
    const raw = req.method === "POST" ? await readBody(req) : null;
    const body = raw && raw.length ? JSON.parse(raw.toString()) : undefined;
    const sid = req.headers["mcp-session-id"];
    let t = sid ? transports.get(sid) : undefined;
    if (!t) {
      if (sid || !body || body.method !== "initialize") {
        res.writeHead(sid ? 404 : 400, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ jsonrpc: "2.0", id: null,
          error: { code: -32000, message: sid ? "Session not found" : "No session" } }));
        return;
      }
      t = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => transports.set(id, t),
      });
      t.onclose = () => t.sessionId && transports.delete(t.sessionId);
      const server = new McpServer({ name: "ts-echo-server", version: "1.0.0" });
      server.registerTool("echo", echoTool, echo);
      server.registerTool("slow", slowTool, (args, extra) =>
        slow(args, { token: extra._meta?.progressToken, notify: (n) => extra.sendNotification(n),
                     signal: extra.signal }));
      // server-to-client requests on the stream of the call they belong to
      // (relatedRequestId), as extra.sendRequest sends them
      server.registerTool("ask", askTool, async ({ question }, extra) => {
        const r = await extra.sendRequest({ method: "elicitation/create", params: { message: question,
          requestedSchema: { type: "object", properties: { name: { type: "string" } }, required: ["name"] } } },
          ElicitResultSchema);
        if (r.action !== "accept") return { isError: true, content: [{ type: "text", text: `elicitation ${r.action}` }] };
        return structured({ answer: String(r.content?.name) });
      });
      server.registerTool("meta", { description: "The _meta keys of the call", inputSchema: {},
        outputSchema: { keys: z.array(z.string()) } },
        async (_args, extra) => structured({ keys: Object.keys(extra._meta ?? {}).sort() }));
      server.registerTool("probe", probeTool, async (_args, extra) => {
        const what = async (f) => { try { return JSON.stringify(await f()); } catch (e) { return `error: ${e.message}`; } };
        return structured({
          ping: await what(() => extra.sendRequest({ method: "ping" }, EmptyResultSchema, { timeout: 5000 })),
          roots: await what(() => extra.sendRequest({ method: "roots/list" }, ListRootsResultSchema, { timeout: 5000 })) });
      });
      await server.connect(t);
    }
    await t.handleRequest(req, res, body);
  };
}

async function v2Handler() {
  const { McpServer, createMcpHandler, inputRequired, acceptedContent } = await import(
    "@modelcontextprotocol/server");
  const handler = createMcpHandler(() => {
    const server = new McpServer({ name: "ts-echo-server-v2", version: "2.0.0" });
    server.registerTool("echo", echoTool, echo);
    server.registerTool("slow", slowTool, (args, ctx) =>
      slow(args, { token: ctx.mcpReq._meta?.progressToken, notify: (n) => ctx.mcpReq.notify(n),
                   signal: ctx.mcpReq.signal }));
    server.registerTool("ask", askTool, async ({ question }, ctx) => {
      const got = acceptedContent(ctx.mcpReq.inputResponses, "name");
      if (!got)
        return inputRequired({ inputRequests: { name: inputRequired.elicit({ message: question,
          requestedSchema: { type: "object", properties: { name: { type: "string" } }, required: ["name"] } }) } });
      return structured({ answer: String(got.name) });
    });
    return server;
  });
  return async (req, res) => {
    const raw = req.method === "POST" || req.method === "DELETE" ? await readBody(req) : null;
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) headers.set(k, String(v));
    // a client that goes away aborts the request (2026-07-28: closing the
    // stream is the cancellation)
    const ac = new AbortController();
    res.on("close", () => { if (!res.writableFinished) ac.abort(); });
    const request = new Request(`http://127.0.0.1:${port}${req.url}`, {
      method: req.method,
      headers,
      signal: ac.signal,
      body: raw && raw.length ? raw : undefined,
    });
    const response = await handler.fetch(request);
    const out = {};
    response.headers.forEach((v, k) => (out[k] = v));
    res.writeHead(response.status, out);
    if (!response.body) return res.end();
    const reader = response.body.getReader();
    req.on("close", () => reader.cancel().catch(() => {}));
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      res.write(value);
    }
    res.end();
  };
}

const handle = mode === "v2" ? await v2Handler() : await v1Handler();
const required = (process.env.TS_REQUIRE || "").split(";").filter(Boolean).map((kv) => {
  const i = kv.indexOf("=");
  return [kv.slice(0, i).toLowerCase(), kv.slice(i + 1)];
});
const srv = http.createServer((req, res) => {
  if (!req.url.startsWith("/mcp")) {
    res.writeHead(404);
    return res.end();
  }
  for (const [k, v] of required)
    if (req.headers[k] !== v) {
      res.writeHead(401, { "WWW-Authenticate": 'Bearer realm="ts-server"', "Content-Type": "application/json" });
      return res.end(JSON.stringify({ error: `missing or wrong ${k}` }));
    }
  handle(req, res).catch((e) => {
    if (!res.headersSent) res.writeHead(500);
    res.end(String(e));
  });
});
srv.keepAliveTimeout = 60000;
srv.listen(port, "127.0.0.1", () => {
  console.log(`listening http://127.0.0.1:${srv.address().port}/mcp`);
});
process.on("SIGTERM", () => process.exit(0));
