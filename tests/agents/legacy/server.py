#!/usr/bin/env python3
"""Fixture: a 2025-11-25-only MCP server on stdio, written without the SDK.

It insists on the lifecycle: initialize, then notifications/initialized, then
anything else (ping excepted).  server/discover does not exist for it.  The
tool echoes its arguments.  Standard library only.
"""

import json
import sys

VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
NAME = "legacy"
TOOL = {"name": NAME, "description": "Echo over MCP 2025-11-25 only",
        "inputSchema": {"type": "object"}, "outputSchema": {"type": "object"}}
state = {"initialize": False, "initialized": False}


def send(msg):
    sys.stdout.write(json.dumps(msg, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def error(rid, code, message):
    send({"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message}})


def result(rid, body):
    send({"jsonrpc": "2.0", "id": rid, "result": body})


def handle(msg):
    rid, method = msg.get("id"), msg.get("method")
    params = msg.get("params") or {}
    if "id" not in msg:
        if method == "notifications/initialized" and state["initialize"]:
            state["initialized"] = True
        return
    if method == "initialize":
        asked = params.get("protocolVersion")
        state["initialize"] = True
        result(rid, {"protocolVersion": asked if asked in VERSIONS else VERSIONS[0],
                     "capabilities": {"tools": {}},
                     "serverInfo": {"name": NAME, "version": "1.0.0"}})
        return
    if method == "ping":
        result(rid, {})
        return
    if method not in ("tools/list", "tools/call"):
        error(rid, -32601, f"Method not found: {method}")
        return
    if not state["initialized"]:
        error(rid, -32600, "not initialized: send initialize and notifications/initialized first")
        return
    if method == "tools/list":
        result(rid, {"tools": [TOOL]})
        return
    if params.get("name") != NAME:
        error(rid, -32602, f"Unknown tool: {params.get('name')}")
        return
    args = params.get("arguments") or {}
    result(rid, {"structuredContent": args, "content": [{"type": "text", "text": json.dumps(args)}]})


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
