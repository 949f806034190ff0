// ts-server.mjs - an MCP server built with the official TypeScript SDK,
// exposing one trivial tool `echo` over Streamable HTTP at /mcp.
//
//   node ts-server.mjs v1|v2 PORT
//
// v1: @modelcontextprotocol/sdk 1.x, session mode (Mcp-Session-Id, one
//     transport per session; SSE responses, as the SDK does by default).
// v2: @modelcontextprotocol/server 2.x, createMcpHandler (stateless
//     2026-07-28, with its stateless 2025 fallback).
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
      await server.connect(t);
    }
    await t.handleRequest(req, res, body);
  };
}

async function v2Handler() {
  const { McpServer, createMcpHandler } = await import("@modelcontextprotocol/server");
  const handler = createMcpHandler(() => {
    const server = new McpServer({ name: "ts-echo-server-v2", version: "2.0.0" });
    server.registerTool("echo", echoTool, echo);
    return server;
  });
  return async (req, res) => {
    const raw = req.method === "POST" || req.method === "DELETE" ? await readBody(req) : null;
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) headers.set(k, String(v));
    const request = new Request(`http://127.0.0.1:${port}${req.url}`, {
      method: req.method,
      headers,
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
const srv = http.createServer((req, res) => {
  if (!req.url.startsWith("/mcp")) {
    res.writeHead(404);
    return res.end();
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
