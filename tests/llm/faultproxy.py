#!/usr/bin/python3
"""faultproxy.py - an HTTP proxy in front of a model server that injects the
faults a real server will not produce on demand, and counts what it sees.

    faultproxy.py --upstream http://127.0.0.1:PORT --port-file FILE

Requests are forwarded to the upstream (bodies and streamed answers as they
come).  The proxy records the peak number of requests in flight and sums
the usage the upstream reported (the oracle for the gateway's accounting).

Control (JSON bodies):
  POST /__fault  {"mode": "429"|"503"|"500"|"stall"|"none", "count": N
                  (-1: every request), "retry_after": "1", "delay_ms": 0}
  GET  /__stats  {"requests", "inflight", "peak", "faults", "prompt_tokens",
                  "completion_tokens", "last_auth"}
  POST /__reset

Python 3 standard library only.
"""
import argparse
import http.client
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATE = {}


def reset():
    STATE.update(requests=0, inflight=0, peak=0, faults=0, prompt_tokens=0,
                 completion_tokens=0, mode="none", count=0, retry_after="1", delay_ms=0,
                 last_auth=None, paths={})


reset()


def add_usage(u):
    if isinstance(u, dict):
        with LOCK:
            STATE["prompt_tokens"] += int(u.get("prompt_tokens") or u.get("input_tokens") or 0)
            STATE["completion_tokens"] += int(u.get("completion_tokens") or
                                              u.get("output_tokens") or 0)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream = None

    def log_message(self, *a):
        pass

    def reply(self, code, obj, headers=None):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        if self.path == "/__stats":
            with LOCK:
                self.reply(200, {k: v for k, v in STATE.items()})
            return
        self.forward("GET", b"")

    def do_POST(self):
        data = self.body()
        if self.path == "/__fault":
            cfg = json.loads(data or b"{}")
            with LOCK:
                STATE["mode"] = str(cfg.get("mode", "none"))
                STATE["count"] = int(cfg.get("count", -1))
                STATE["retry_after"] = str(cfg.get("retry_after", "1"))
                STATE["delay_ms"] = int(cfg.get("delay_ms", 0))
            self.reply(200, {"ok": True})
            return
        if self.path == "/__reset":
            with LOCK:
                reset()
            self.reply(200, {"ok": True})
            return
        self.forward("POST", data)

    def take_fault(self):
        with LOCK:
            STATE["requests"] += 1
            STATE["last_auth"] = self.headers.get("Authorization") or self.headers.get("x-api-key")
            STATE["paths"][self.path] = STATE["paths"].get(self.path, 0) + 1
            mode = STATE["mode"]
            if mode != "none" and STATE["count"] != 0:
                if STATE["count"] > 0:
                    STATE["count"] -= 1
                STATE["faults"] += 1
                return mode
            return None

    def forward(self, method, data):
        fault = self.take_fault()
        if fault in ("429", "503", "500"):
            hdr = {"Retry-After": STATE["retry_after"]} if fault != "500" else {}
            self.reply(int(fault), {"error": {"message": "injected %s" % fault,
                                              "type": "injected"}}, hdr)
            return
        if fault == "stall":
            time.sleep(30)
            self.close_connection = True
            return
        with LOCK:
            STATE["inflight"] += 1
            STATE["peak"] = max(STATE["peak"], STATE["inflight"])
            delay = STATE["delay_ms"]
        try:
            if delay:
                time.sleep(delay / 1000.0)
            self.relay(method, data)
        finally:
            with LOCK:
                STATE["inflight"] -= 1

    def relay(self, method, data):
        u = self.upstream
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        path = u.path.rstrip("/") + self.path[len("/v1"):] if self.path.startswith("/v1") \
            else self.path
        headers = {"Content-Type": "application/json"}
        conn.request(method, path, body=data or None, headers=headers)
        resp = conn.getresponse()
        ctype = resp.getheader("Content-Type", "")
        if "text/event-stream" in ctype:
            self.send_response(resp.status)
            self.send_header("Content-Type", ctype)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            pending = b""
            while True:
                chunk = resp.read1(65536)
                if not chunk:
                    break
                pending += chunk
                while b"\n\n" in pending:
                    ev, pending = pending.split(b"\n\n", 1)
                    for line in ev.split(b"\n"):
                        if line.startswith(b"data: ") and line[6:7] == b"{":
                            try:
                                add_usage(json.loads(line[6:]).get("usage"))
                            except ValueError:
                                pass
                            try:
                                msg = json.loads(line[6:])
                                if msg.get("type") == "message_start":
                                    add_usage({"input_tokens": msg["message"]["usage"].get(
                                        "input_tokens", 0) + msg["message"]["usage"].get(
                                        "cache_read_input_tokens", 0)})
                            except (ValueError, KeyError, TypeError, AttributeError):
                                pass
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            conn.close()
            return
        body = resp.read()
        conn.close()
        try:
            doc = json.loads(body)
            u = doc.get("usage") if isinstance(doc, dict) else None
            if isinstance(u, dict) and "input_tokens" in u:
                u = {"input_tokens": u["input_tokens"] + u.get("cache_read_input_tokens", 0),
                     "output_tokens": u.get("output_tokens", 0)}
            if resp.status == 200:
                add_usage(u)
        except ValueError:
            pass
        self.send_response(resp.status)
        self.send_header("Content-Type", ctype or "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    a = ap.parse_args()
    Handler.upstream = urllib.parse.urlparse(a.upstream)
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 512
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write(str(srv.server_address[1]))
        import os
        os.rename(a.port_file + ".tmp", a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
