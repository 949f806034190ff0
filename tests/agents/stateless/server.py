#!/usr/bin/env python3
"""Fixture: a 2026-07-28-only MCP server on stdio, written without the SDK.

Every request must carry the 2026-07-28 _meta envelope; there is no
handshake, and ping/initialize are not methods of this revision.  The tool
echoes its arguments.  Standard library only.
"""

import json
import sys

VERSION = "2026-07-28"
PV = "io.modelcontextprotocol/protocolVersion"
CAPS = "io.modelcontextprotocol/clientCapabilities"
NAME = "stateless"
TOOL = {"name": NAME, "description": "Echo over MCP 2026-07-28 only",
        "inputSchema": {"type": "object"}, "outputSchema": {"type": "object"}}


def send(msg):
    sys.stdout.write(json.dumps(msg, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def error(rid, code, message, data=None):
    err = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    send({"jsonrpc": "2.0", "id": rid, "error": err})


def result(rid, body):
    send({"jsonrpc": "2.0", "id": rid, "result": dict(body, resultType="complete")})


def handle(msg):
    rid, method = msg.get("id"), msg.get("method")
    params = msg.get("params") or {}
    if "id" not in msg:
        return  # notifications: nothing to do
    if method in ("initialize", "ping"):
        error(rid, -32601, f"Method not found: {method} (this server speaks {VERSION} only)")
        return
    meta = params.get("_meta")
    if not isinstance(meta, dict) or PV not in meta or not isinstance(meta.get(CAPS), dict):
        error(rid, -32602, "missing _meta: every request needs "
                           f"{PV} and {CAPS} (MCP {VERSION})")
        return
    if meta[PV] != VERSION:
        error(rid, -32022, "Unsupported protocol version",
              {"supported": [VERSION], "requested": meta[PV]})
        return
    if method == "server/discover":
        result(rid, {"supportedVersions": [VERSION], "capabilities": {"tools": {}},
                     "serverInfo": {"name": NAME, "version": "1.0.0"}})
    elif method == "tools/list":
        result(rid, {"tools": [TOOL]})
    elif method == "tools/call":
        if params.get("name") != NAME:
            error(rid, -32602, f"Unknown tool: {params.get('name')}")
            return
        args = params.get("arguments") or {}
        result(rid, {"structuredContent": args,
                     "content": [{"type": "text", "text": json.dumps(args)}]})
    else:
        error(rid, -32601, f"Method not found: {method}")


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            msg = json.loads(line)
        except ValueError:
            error(None, -32700, "Parse error")
            continue
        if isinstance(msg, dict):
            handle(msg)
        else:
            error(None, -32600, "Invalid request")


if __name__ == "__main__":
    main()
