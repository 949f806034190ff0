"""A loopback stand-in for the chat platforms' outgoing APIs: Slack's
chat.postMessage and slash commands' response_url, Discord's interaction
follow-up webhooks (POST /webhooks/APP/TOKEN).  Every POST is appended to
argv[2] as one JSON line {path, authorization, body}; Slack paths answer
{"ok": true}, Discord paths a message object.  Writes its port to argv[1]."""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()


class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(n)
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        rec = {"path": self.path, "authorization": self.headers.get("Authorization"),
               "content_type": self.headers.get("Content-Type"), "body": body}
        with lock, open(sys.argv[2], "a") as f:
            f.write(json.dumps(rec) + "\n")
        out = {"id": "m1", "content": body.get("content")} if self.path.startswith("/webhooks/") \
            else {"ok": True, "channel": body.get("channel") if isinstance(body, dict) else None}
        data = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os  # noqa: E402
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
srv.serve_forever()
