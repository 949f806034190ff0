#!/usr/bin/env python3
"""Fixture: floods stdout or stderr on tools/call (see agent.yaml).

Answers server/discover and initialize like a well-behaved agent of either
revision.  Writes straight to the file descriptors so a reader that stops
reading blocks it, as a real runaway agent would be.  Standard library only.
"""

import json
import os
import sys

NAME = "flood"
PV = "io.modelcontextprotocol/protocolVersion"
TOOL = {"name": NAME, "inputSchema": {"type": "object"}}
CHUNK = b"x" * 65536


def write(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def send(msg):
    write(1, (json.dumps(msg, separators=(",", ":")) + "\n").encode())


def flood(rid, args, extra):
    mode = args.get("mode", "line")
    size = int(args.get("bytes", 8 * 1024 * 1024))
    if mode in ("line", "nonewline"):
        head = b'{"jsonrpc":"2.0","id":' + json.dumps(rid).encode() + \
            b',"result":{"content":[{"type":"text","text":"'
        write(1, head)
        left = size
        while left > 0:
            write(1, CHUNK[:min(left, len(CHUNK))])
            left -= len(CHUNK)
        if mode == "line":
            tail = {"structuredContent": {}, **extra}
            write(1, b'"}],' + json.dumps(tail)[1:].encode() + b"}\n")
        else:
            while True:  # never finish the line
                write(1, CHUNK)
    elif mode == "endless":
        line = (json.dumps({"jsonrpc": "2.0", "method": "notifications/message",
                            "params": {"level": "info", "data": "flood " * 100}}) + "\n").encode()
        while True:
            write(1, line * 64)
    else:
        while True:
            write(2, b"flood: " + CHUNK[:1000] + b"\n")


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
            flood(rid, params.get("arguments") or {}, extra)
        else:
            send({"jsonrpc": "2.0", "id": rid,
                  "error": {"code": -32601, "message": f"Method not found: {method}"}})


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        os._exit(0)
