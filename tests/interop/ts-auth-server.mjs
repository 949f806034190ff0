// ts-auth-server.mjs - an MCP server behind OAuth, built with the official
// TypeScript SDK 1.x (@modelcontextprotocol/sdk): the SDK's own
// requireBearerAuth middleware guards /mcp (and a second server at
// /static/mcp that takes one fixed bearer token), mcpAuthMetadataRouter
// publishes the protected-resource metadata (RFC 9728, path-aware) and the
// authorization-server metadata (RFC 8414), and a token endpoint here
// grants client_credentials (client_secret_basic or _post) for one known
// client, checking the resource indicator (RFC 8707).  Tokens live
// TOKEN_TTL_S seconds.
//
//   node ts-auth-server.mjs PORT [TOKEN_TTL_S]
//
// Tool `whoami {text}` returns {text, client} (the client id the token was
// granted to).  Prints "listening http://127.0.0.1:PORT/mcp" once ready, and
// one line "token CLIENT_ID RESOURCE SCOPE" per token granted.  Used by
// tests/e2e/t_mcp_remote_auth.sh.

import http from "node:http";
import { randomUUID } from "node:crypto";
import express from "express";
import { z } from "zod";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { requireBearerAuth } from "@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js";
import { mcpAuthMetadataRouter, getOAuthProtectedResourceMetadataUrl } from "@modelcontextprotocol/sdk/server/auth/router.js";
import { InvalidTokenError } from "@modelcontextprotocol/sdk/server/auth/errors.js";

const port = Number(process.argv[2] || 0);
const ttl = Number(process.argv[3] || 3600);
const CLIENT = { id: "atlas-e2e", secret: "cl1ent-s3cret" };
const STATIC = "st4tic-t0ken";
const tokens = new Map(); // token -> {clientId, scopes, expiresAt, resource}

const app = express();
const srv = http.createServer(app);
await new Promise((r) => srv.listen(port, "127.0.0.1", r));
const base = `http://127.0.0.1:${srv.address().port}`;
const resource = new URL(`${base}/mcp`);

const oauthMetadata = {
  issuer: `${base}/`,
  token_endpoint: `${base}/token`,
  response_types_supported: ["code"],
  grant_types_supported: ["client_credentials"],
  token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post"],
  scopes_supported: ["mcp:tools"],
};
app.use(mcpAuthMetadataRouter({ oauthMetadata, resourceServerUrl: resource, scopesSupported: ["mcp:tools"] }));

app.post("/token", express.urlencoded({ extended: false }), (req, res) => {
  let id = req.body.client_id, secret = req.body.client_secret;
  const basic = /^Basic (.+)$/i.exec(req.headers.authorization || "");
  if (basic) {
    const [u, p] = Buffer.from(basic[1], "base64").toString().split(":");
    id = decodeURIComponent(u);
    secret = decodeURIComponent(p ?? "");
  }
  if (req.body.grant_type !== "client_credentials")
    return res.status(400).json({ error: "unsupported_grant_type" });
  if (id !== CLIENT.id || secret !== CLIENT.secret)
    return res.status(401).json({ error: "invalid_client" });
  if (req.body.resource && req.body.resource.replace(/\/$/, "") !== resource.href.replace(/\/$/, ""))
    return res.status(400).json({ error: "invalid_target" });
  const t = randomUUID();
  const scopes = (req.body.scope || "").split(" ").filter(Boolean);
  tokens.set(t, { clientId: id, scopes, expiresAt: Math.floor(Date.now() / 1000) + ttl, resource: req.body.resource });
  console.log(`token ${id} ${req.body.resource || "-"} ${req.body.scope || "-"}`);
  res.json({ access_token: t, token_type: "Bearer", expires_in: ttl, scope: scopes.join(" ") });
});

const verifier = {
  async verifyAccessToken(t) {
    if (t === STATIC)
      return { token: t, clientId: "static", scopes: [], expiresAt: Math.floor(Date.now() / 1000) + 3600 };
    const info = tokens.get(t);
    if (!info) throw new InvalidTokenError("unknown token");
    return { token: t, clientId: info.clientId, scopes: info.scopes, expiresAt: info.expiresAt,
             resource: info.resource ? new URL(info.resource) : undefined };
  },
};

// one stateless transport per request, as the SDK's stateless example does
function mcpHandler() {
  return async (req, res) => {
    const server = new McpServer({ name: "ts-auth-server", version: "1.0.0" });
    server.registerTool("whoami", {
      description: "Returns its text and the OAuth client the call was made as",
      inputSchema: { text: z.string() },
      outputSchema: { text: z.string(), client: z.string() },
    }, async ({ text }, extra) => {
      const v = { text, client: extra.authInfo?.clientId ?? "" };
      return { structuredContent: v, content: [{ type: "text", text: JSON.stringify(v) }] };
    });
    const t = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on("close", () => { t.close(); server.close(); });
    await server.connect(t);
    await t.handleRequest(req, res, req.body);
  };
}

app.use("/mcp", express.json(), requireBearerAuth({
  verifier, expectedResource: resource,
  resourceMetadataUrl: getOAuthProtectedResourceMetadataUrl(resource),
}), mcpHandler());
app.use("/static/mcp", express.json(), requireBearerAuth({ verifier }), mcpHandler());

console.log(`listening ${resource.href}`);
