"""A loopback server speaking SearXNG's JSON search API (GET /search?q=...&
format=json -> {"query", "results": [{title, url, content, engine}]}) for
the web-search skill, and an echo of any other request for the http skill.
Writes its port to argv[1]."""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def answer(self, body: dict, status: int = 200):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        u = urlparse(self.path)
        q = parse_qs(u.query)
        if u.path == "/search":
            if q.get("format") != ["json"]:
                self.answer({"error": "format"}, 400)
                return
            query = q.get("q", [""])[0]
            self.answer({"query": query, "number_of_results": 2, "results": [
                {"title": "First " + query, "url": "https://example.org/1",
                 "content": "about " + query, "engine": "fake"},
                {"title": "Second", "url": "https://example.org/2", "content": "more"},
            ]})
            return
        if u.path == "/big":
            self.answer({"big": "x" * 100000})
            return
        self.answer({"method": "GET", "path": u.path})

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode()
        self.answer({"method": "POST", "path": self.path, "body": body})


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
srv.serve_forever()
