"""A raw MCP stdio server (2025-11-25) whose tool sends sampling/createMessage
to its client and returns the answer (or the error it got)."""
import json
import sys

out = sys.stdout


def send(msg):
    out.write(json.dumps(msg) + "\n")
    out.flush()


def read():
    line = sys.stdin.readline()
    if not line:
        sys.exit(0)
    return json.loads(line)


while True:
    msg = read()
    mid, method = msg.get("id"), msg.get("method")
    if method == "initialize":
        caps = msg["params"].get("capabilities", {})
        send({"jsonrpc": "2.0", "id": mid, "result": {
            "protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
            "serverInfo": {"name": "sampler", "version": "1.0.0"},
            "instructions": json.dumps(caps)}})
    elif method == "tools/list":
        send({"jsonrpc": "2.0", "id": mid, "result": {"tools": [
            {"name": "sampler", "inputSchema": {"type": "object"}}]}})
    elif method == "tools/call":
        prompt = msg["params"]["arguments"].get("prompt", "hello")
        send({"jsonrpc": "2.0", "id": "s1", "method": "sampling/createMessage", "params": {
            "messages": [{"role": "user", "content": {"type": "text", "text": prompt}}],
            "maxTokens": 16}})
        while True:
            ans = read()
            if ans.get("id") == "s1":
                break
        if "error" in ans:
            res = {"error": ans["error"]}
        else:
            r = ans["result"]
            res = {"text": r["content"]["text"], "model": r.get("model"),
                   "role": r.get("role")}
        send({"jsonrpc": "2.0", "id": mid, "result": {"structuredContent": res,
              "content": [{"type": "text", "text": json.dumps(res)}]}})
    elif mid is not None:
        if method == "ping":
            send({"jsonrpc": "2.0", "id": mid, "result": {}})
        else:
            send({"jsonrpc": "2.0", "id": mid, "error": {"code": -32601, "message": "no"}})
