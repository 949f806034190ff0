#!/usr/bin/env python3
"""fake_mcp.py MODE - a minimal 2026-07-28 MCP server (stateless, JSON
answers) on 127.0.0.1 for tests/e2e/t_mcp_client.sh.  Prints "listening URL".

MODE auth:     every request is answered 401 with WWW-Authenticate.
MODE headers:  tools "region" (a valid x-mcp-header annotation on `region`
               and `count`) and "bad" (x-mcp-header on an object property);
               a tools/call answers with the Mcp-Param-* headers it got.
MODE reject:   the first server/discover is refused with -32022 listing
               2026-07-28 as supported (as a server that wants a retry);
               after that as "headers".  Any initialize is recorded, and
               answered with an error.
MODE input:    as "headers", but a tools/call answers with an
               input_required result (elicitation), whatever the client
               declared (tests/e2e/t_mcp_client_cli.sh).
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODE = sys.argv[1]
STATE = {"discovers": 0, "initialize": 0}
TOOLS = [
    {"name": "region", "inputSchema": {"type": "object", "properties": {
        "region": {"type": "string", "x-mcp-header": "Region"},
        "count": {"type": "integer", "x-mcp-header": "Count"},
        "note": {"type": "string"}}}},
    {"name": "bad", "inputSchema": {"type": "object", "properties": {
        "data": {"type": "object", "x-mcp-header": "Data"}}}},
]


class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def answer(self, status, body, extra=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        msg = json.loads(self.rfile.read(n) or b"{}")
        rid, method = msg.get("id"), msg.get("method")
        if MODE == "auth":
            return self.answer(401, {"error": "unauthorized"},
                               {"WWW-Authenticate": 'Bearer resource_metadata="http://127.0.0.1/x"'})
        if rid is None:
            self.send_response(202)
            self.end_headers()
            return
        ok = lambda r: self.answer(200, {"jsonrpc": "2.0", "id": rid, "result": r})
        if method == "server/discover":
            STATE["discovers"] += 1
            if MODE == "reject" and STATE["discovers"] == 1:
                return self.answer(400, {"jsonrpc": "2.0", "id": rid, "error": {
                    "code": -32022, "message": "Unsupported protocol version",
                    "data": {"supported": ["2026-07-28"], "requested": "?"}}})
            return ok({"supportedVersions": ["2026-07-28"], "capabilities": {"tools": {}},
                       "serverInfo": {"name": "fake", "version": "1.0.0"},
                       "resultType": "complete", "ttlMs": 0, "cacheScope": "public"})
        if method == "initialize":
            STATE["initialize"] += 1
            print("initialize", flush=True)
            return self.answer(200, {"jsonrpc": "2.0", "id": rid,
                                     "error": {"code": -32601, "message": "not on 2026-07-28"}})
        if method == "tools/list":
            return ok({"tools": TOOLS, "resultType": "complete", "ttlMs": 0,
                       "cacheScope": "private"})
        if method == "tools/call" and MODE == "input":
            return ok({"resultType": "input_required", "requestState": "s1", "inputRequests": {
                "q": {"method": "elicitation/create", "params": {
                    "message": "name?", "requestedSchema": {"type": "object", "properties": {
                        "name": {"type": "string"}}}}}}})
        if method == "tools/call":
            got = {k: v for k, v in self.headers.items() if k.lower().startswith("mcp-param-")}
            out = {"headers": got}
            return ok({"structuredContent": out,
                       "content": [{"type": "text", "text": json.dumps(out)}],
                       "resultType": "complete"})
        self.answer(404, {"jsonrpc": "2.0", "id": rid,
                          "error": {"code": -32601, "message": "Method not found"}})


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(f"listening http://127.0.0.1:{srv.server_address[1]}/mcp", flush=True)
srv.serve_forever()
