"""A stand-in OpenAI-compatible server for the monitor's tests (llm_judge
checks, model spans, model-based routing).  The answer's content is a
score: 4.5 when the request's last message mentions GOOD, else 2; a message
that mentions SLOW is answered after 2 s, one that mentions HOLD once the
file argv[1] + ".release" exists (a test holds a call as long as it needs).  A routing request (system prompt
"You route ...") is answered "Use NAME." for the word after PICK in it.  The supervisor's
planner (system prompt "You plan ...") gets the text of argv[1] + ".plan";
its reviewer ("You review ...") a pass verdict, or fail for FAILREVIEW.

Faults for the gateway's tests (tests/e2e/t_llm_errors.sh), by words in the
last message: STATUS=NNN answers with that HTTP status and an OpenAI-style
error body (RETRY=S adds Retry-After: S); HUGEUSAGE reports 2^63-1 tokens
each way, NEGUSAGE a negative count.

POST /v1/embeddings answers deterministic vectors (64 dimensions): each
character trigram of each lower-cased word adds 1 at md5(trigram) mod 64,
so texts sharing words (or parts of words) have a high cosine.  Writes its
port to argv[1]."""

import hashlib
import json
import os
import re
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.endswith("/models"):
            self.reply(200, {"object": "list", "data": [{"id": "judge-model", "object": "model"}]})
        else:
            self.reply(404, {"error": {"message": "not found"}})

    def embed(self, text):
        vec = [0.0] * 64
        for word in re.findall(r"\w+", text.lower()):
            w = " " + word + " "
            for i in range(len(w) - 2):
                vec[hashlib.md5(w[i:i + 3].encode()).digest()[0] % 64] += 1.0
        return vec

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        req = json.loads(self.rfile.read(n) or b"{}")
        if self.path.endswith("/embeddings"):
            inp = req.get("input")
            texts = [inp] if isinstance(inp, str) else list(inp or [])
            words = sum(len(str(t).split()) for t in texts)
            self.reply(200, {"object": "list", "model": req.get("model"),
                             "data": [{"object": "embedding", "index": i, "embedding": self.embed(str(t))}
                                      for i, t in enumerate(texts)],
                             "usage": {"prompt_tokens": words, "total_tokens": words}})
            return
        text = json.dumps(req.get("messages", [])[-1:])
        score = "4.5" if "GOOD" in text else "2"
        msgs = req.get("messages", [])
        if msgs and str(msgs[0].get("content", "")).startswith("You route"):
            # routing: answer with the word after PICK in the request, if any
            words = str(msgs[-1].get("content", "")).split()
            score = ("Use " + words[words.index("PICK") + 1] + ".") if "PICK" in words else "no idea"
        if msgs and str(msgs[0].get("content", "")).startswith("You plan"):
            # the supervisor's planner: the plan a test wrote to argv[1] + ".plan"
            try:
                with open(sys.argv[1] + ".plan") as f:
                    score = f.read()
            except OSError:
                score = "no plan"
        if msgs and str(msgs[0].get("content", "")).startswith("You review"):
            # the supervisor's reviewer: FAILREVIEW in the task fails it, else a pass
            score = json.dumps({"verdict": "fail" if "FAILREVIEW" in text else "pass",
                                "score": 0.9, "reasons": ["reviewed by the fake"]})
        if "SLOW" in text:
            time.sleep(2)
        if "HOLD" in text:
            end = time.monotonic() + 300
            while not os.path.exists(sys.argv[1] + ".release") and time.monotonic() < end:
                time.sleep(0.02)
        m = re.search(r"STATUS=(\d+)", text)
        if m:
            retry = re.search(r"RETRY=(\d+)", text)
            data = json.dumps({"error": {"message": "scripted %s" % m.group(1),
                                         "type": "scripted"}}).encode()
            self.send_response(int(m.group(1)))
            if retry:
                self.send_header("Retry-After", retry.group(1))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        usage = {"prompt_tokens": 40, "completion_tokens": 2, "total_tokens": 42}
        if "HUGEUSAGE" in text:
            usage = {"prompt_tokens": 2**63 - 1, "completion_tokens": 2**63 - 1,
                     "total_tokens": 2**63 - 1}
        elif "NEGUSAGE" in text:
            usage = {"prompt_tokens": -40, "completion_tokens": 2, "total_tokens": -38}
        self.reply(200, {
            "id": "chatcmpl-1", "object": "chat.completion", "created": 0,
            "model": req.get("model", "judge-model"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": score}}],
            "usage": usage,
        })


srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
srv.serve_forever()
