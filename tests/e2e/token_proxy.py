"""A Docker-style token-auth front for a registry, for t_registry_oci.sh:
every /v2/ request without `Authorization: Bearer <a token it issued>` is
answered 401 with `WWW-Authenticate: Bearer realm=".../token",
service="atlas-test",scope="repository:NAME:pull,push"`; GET /token with
HTTP basic USER:PASSWORD (argv[3], argv[4]) issues a token; requests with
the token are forwarded to the upstream registry (argv[2], host:port)
unchanged, Host header included (so its Location headers point here).
Writes its port to argv[1].  Counts issued tokens in GET /stats."""

import base64
import http.client
import json
import re
import secrets
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UPSTREAM = sys.argv[2]
CREDS = "%s:%s" % (sys.argv[3], sys.argv[4])
TOKENS = set()
STATS = {"tokens": 0, "refused": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, code, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else None

    def handle_any(self):
        if self.path == "/stats":
            return self.reply(200, STATS)
        if self.path.startswith("/token"):
            auth = self.headers.get("Authorization", "")
            if not auth.startswith("Basic ") or base64.b64decode(auth[6:]).decode() != CREDS:
                STATS["refused"] += 1
                return self.reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]})
            tok = secrets.token_hex(16)
            TOKENS.add(tok)
            STATS["tokens"] += 1
            return self.reply(200, {"token": tok, "expires_in": 300})
        data = self.body()
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in TOKENS:
            m = re.match(r"^/v2/(.+?)/(manifests|blobs|tags)/", self.path)
            scope = ',scope="repository:%s:pull,push"' % m.group(1) if m else ""
            realm = "http://%s/token" % self.headers.get("Host")
            return self.reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "token needed"}]},
                              [("WWW-Authenticate", 'Bearer realm="%s",service="atlas-test"%s' % (realm, scope))])
        conn = http.client.HTTPConnection(UPSTREAM, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "authorization"}
        conn.request(self.command, self.path, body=data, headers=headers)
        resp = conn.getresponse()
        payload = resp.read()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        conn.close()

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = handle_any


srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
srv.serve_forever()
