#!/usr/bin/env python3
"""Fixture: corrupts its stdout on tools/call (see agent.yaml).

Answers server/discover and initialize like a well-behaved agent of either
revision.  Standard library only.
"""

import json
import os
import sys

NAME = "garbage"
PV = "io.modelcontextprotocol/protocolVersion"
TOOL = {"name": NAME, "inputSchema": {"type": "object"}}


def send(msg):
    sys.stdout.write(json.dumps(msg, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def main():
    for line in sys.stdin:
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if not isinstance(msg, dict) or "id" not in msg:
            continue
        rid, method = msg["id"], msg.get("method")
        params = msg.get("params") or {}
        modern = isinstance(params.get("_meta"), dict) and PV in params["_meta"]
        extra = {"resultType": "complete"} if modern else {}
        if method == "server/discover":
            send({"jsonrpc": "2.0", "id": rid, "result": {
                "supportedVersions": ["2026-07-28", "2025-11-25"], "capabilities": {"tools": {}},
                "serverInfo": {"name": NAME, "version": "1.0.0"}, **extra}})
        elif method == "initialize":
            send({"jsonrpc": "2.0", "id": rid, "result": {
                "protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
                "serverInfo": {"name": NAME, "version": "1.0.0"}}})
        elif method == "ping":
            send({"jsonrpc": "2.0", "id": rid, "result": {}})
        elif method == "tools/list":
            send({"jsonrpc": "2.0", "id": rid, "result": {"tools": [TOOL], **extra}})
        elif method == "tools/call":
            mode = (params.get("arguments") or {}).get("mode", "text")
            if mode == "json":
                sys.stdout.write('{"hello": "this is JSON but not JSON-RPC"}\n')
            elif mode == "partial":
                sys.stdout.write('{"jsonrpc":"2.0","id":')
                sys.stdout.flush()
                os._exit(0)
            else:
                sys.stdout.write("garbage: this line is not JSON\n")
            send({"jsonrpc": "2.0", "id": rid, "result": {
                "structuredContent": {}, "content": [{"type": "text", "text": "{}"}], **extra}})
        else:
            send({"jsonrpc": "2.0", "id": rid,
                  "error": {"code": -32601, "message": f"Method not found: {method}"}})


if __name__ == "__main__":
    main()
