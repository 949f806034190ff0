#!/usr/bin/env python3
"""Fixture: a stdio MCP server whose tools probe what it may touch (for a
mounted server in the sandbox, docs/skills.md "Sandboxed servers").

Tools: read {path} -> {ok, text|error}; write {path, text} -> {ok, error};
connect {port} -> {ok, error} (TCP to 127.0.0.1:port); whoami -> {pid, cwd,
env}.  A failure is an answer (ok: false), not an MCP error, so the test
reads the reason.  Standard library only.
"""

import json
import os
import socket
import sys


def send(msg):
    sys.stdout.write(json.dumps(msg, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def tool(name):
    return {"name": name, "inputSchema": {"type": "object"}}


def call(name, a):
    try:
        if name == "read":
            with open(a["path"]) as f:
                return {"ok": True, "text": f.read()}
        if name == "write":
            with open(a["path"], "w") as f:
                f.write(a.get("text", ""))
            return {"ok": True}
        if name == "connect":
            s = socket.create_connection(("127.0.0.1", int(a["port"])), timeout=2)
            s.close()
            return {"ok": True}
        if name == "whoami":
            return {"ok": True, "pid": os.getpid(), "cwd": os.getcwd(), "env": sorted(os.environ)}
    except Exception as e:  # the reason is the answer
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}
    return {"ok": False, "error": f"unknown tool {name}"}


def main():
    for line in sys.stdin:
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        rid, method = msg.get("id"), msg.get("method")
        if rid is None:
            continue
        p = msg.get("params") or {}
        if method == "initialize":
            res = {"protocolVersion": p.get("protocolVersion", "2025-11-25"),
                   "capabilities": {"tools": {}}, "serverInfo": {"name": "probe", "version": "1.0.0"}}
        elif method == "tools/list":
            res = {"tools": [tool(n) for n in ("read", "write", "connect", "whoami")]}
        elif method == "tools/call":
            out = call(p.get("name"), p.get("arguments") or {})
            res = {"structuredContent": out, "content": [{"type": "text", "text": json.dumps(out)}]}
        elif method == "ping":
            res = {}
        else:
            send({"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": "Method not found"}})
            continue
        send({"jsonrpc": "2.0", "id": rid, "result": res})


if __name__ == "__main__":
    main()
