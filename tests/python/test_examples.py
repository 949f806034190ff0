"""The example agents under examples/agents, driven over stdio.  ts-echo is
skipped until `npm ci` has run in its directory (and node is installed)."""

import json
import os
import shutil
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from mcpdriver import EXAMPLES, LEGACY, MODERN, Agent

from atlas import jsonschema, miniyaml

TS_ECHO = os.path.join(EXAMPLES, "ts-echo")


class FakeGateway(BaseHTTPRequestHandler):
    """The model gateway as the summarizer sees it; the first path segment
    picks the behaviour (ok, plain, none, budget, empty, garbage)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, ctype="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        self.server.seen.append({"path": self.path, "body": body,
                                 "auth": self.headers.get("Authorization")})
        mode = self.path.split("/")[1]
        if mode in ("none", "budget"):
            status, slug = (501, "not-available") if mode == "none" else (429, "limit-exceeded")
            return self.reply(status, {"type": f"urn:atlas:error:{slug}", "title": slug,
                                       "status": status, "detail": f"refused: {slug}"},
                              "application/problem+json")
        if mode == "garbage":
            return self.reply(200, b"<html>not json</html>", "text/html")
        text = "" if mode == "empty" else \
            "Atlas runs agents as warm MCP processes,\n validated twice."
        doc = {"id": "c1", "object": "chat.completion", "model": "upstream-model",
               "choices": [{"index": 0, "finish_reason": "stop",
                            "message": {"role": "assistant", "content": text}}]}
        if mode == "ok":
            doc["atlas"] = {"model": "tiny-a", "backend": "local", "tier": "fast",
                            "reason": "agent preference fast"}
        self.reply(200, doc)


def start_gateway(test):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), FakeGateway)
    srv.seen = []
    srv.base = f"http://127.0.0.1:{srv.server_address[1]}"
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    test.addCleanup(srv.server_close)
    test.addCleanup(srv.shutdown)
    return srv


def contract(name):
    return miniyaml.load(os.path.join(EXAMPLES, name, "agent.yaml"))["agent"]


class ExamplesTest(unittest.TestCase):
    def agent(self, name, **kw):
        a = Agent(os.path.join(EXAMPLES, name), **kw)
        self.addCleanup(a.kill)
        return a

    def test_contracts_use_the_spec_format(self):
        for name in sorted(os.listdir(EXAMPLES)):
            with self.subTest(agent=name):
                c = contract(name)
                self.assertEqual(c["name"], name)
                for key in ("version", "description", "input", "output", "capabilities",
                            "requires", "hardware"):
                    self.assertIn(key, c)
                self.assertEqual(c["input"]["schema"]["type"], "object")
                self.assertEqual(c["output"]["schema"]["type"], "object")

    def test_summarizer_contract_is_the_spec_one(self):
        c = contract("summarizer")
        self.assertEqual((c["name"], c["version"]), ("summarizer", "1.2.0"))
        # the spec's two properties, plus which way the summary was made
        self.assertEqual(c["output"]["schema"], {"type": "object", "properties": {
            "summary": {"type": "string"}, "token_count": {"type": "integer"},
            "method": {"type": "string", "enum": ["model", "extractive"]},
            "model": {"type": "string"}}})
        self.assertEqual(c["model"], {"preference": "fast", "override_allowed": True})
        self.assertEqual(c["dependencies"], {"python": ">=3.11", "packages": []})
        self.assertEqual(c["lifecycle"], {"health": "/health", "startup": "on_startup",
                                          "shutdown": "on_shutdown"})

    def test_summarizer_eval_length_compliance(self):
        # evals/quality-check.yaml in the spec: output.token_count <= input.max_length
        a = self.agent("summarizer")
        a.handshake()
        schema = contract("summarizer")["output"]["schema"]
        texts = [
            "",
            "One sentence only, and a long one that goes on and on about nothing much.",
            "Atlas runs agents. Agents are processes. Processes speak MCP. " * 30,
            "Ünïcödé wörds. Ελληνικά κείμενα εδώ. 日本語の文。 More text here!",
            "no punctuation at all just a long run of words " * 40,
        ]
        for text in texts:
            for max_length in (0, 1, 3, 10, 50):
                with self.subTest(text=text[:20], max_length=max_length):
                    r = a.call({"text": text, "max_length": max_length})["result"]
                    out = r["structuredContent"]
                    jsonschema.validate(out, schema)
                    self.assertLessEqual(out["token_count"], max_length)
                    self.assertEqual(out["method"], "extractive")  # no OPENAI_BASE_URL
                    self.assertNotIn("model", out)
        out = a.call({"text": "word " * 500})["result"]["structuredContent"]
        self.assertLessEqual(out["token_count"], 200)  # the schema's default
        self.assertGreater(out["token_count"], 0)

    def test_summarizer_keeps_the_important_sentences(self):
        a = self.agent("summarizer")
        a.handshake()
        text = ("Atlas is a runtime for agents. The cat sat. Atlas pools warm agent processes "
                "for agents. It rained. Agents in Atlas speak MCP.")
        out = a.call({"text": text, "max_length": 12})["result"]["structuredContent"]
        self.assertNotIn("cat", out["summary"])
        self.assertIn("Atlas", out["summary"])

    def test_summarizer_uses_the_model(self):
        gw = start_gateway(self)
        a = self.agent("summarizer", env={"OPENAI_BASE_URL": gw.base + "/ok/v1",
                                          "OPENAI_API_KEY": "job-key"})
        a.handshake()
        schema = contract("summarizer")["output"]["schema"]
        text = "Atlas runs agents. Agents are processes. Processes speak MCP."
        out = a.call({"text": text, "max_length": 5})["result"]["structuredContent"]
        jsonschema.validate(out, schema)
        # the reply had 9 words: cut to max_length
        self.assertEqual(out, {"summary": "Atlas runs agents as warm", "token_count": 5,
                               "method": "model", "model": "tiny-a"})
        req = gw.seen[0]
        self.assertEqual(req["path"], "/ok/v1/chat/completions")
        self.assertEqual(req["auth"], "Bearer job-key")
        body = req["body"]
        self.assertEqual(body["model"], "fast")  # the contract's model.preference
        self.assertIn("at most 5 words", body["messages"][0]["content"])
        self.assertIn(text, body["messages"][-1]["content"])
        self.assertGreaterEqual(body["max_tokens"], 10)
        out = a.call({"text": text, "max_length": 50})["result"]["structuredContent"]
        self.assertEqual(out["summary"],
                         "Atlas runs agents as warm MCP processes, validated twice.")
        self.assertEqual(out["token_count"], 9)
        # a server without Atlas's metadata: the response's model
        b = self.agent("summarizer", env={"OPENAI_BASE_URL": gw.base + "/plain/v1"})
        b.handshake()
        out = b.call({"text": text, "max_length": 50})["result"]["structuredContent"]
        self.assertEqual((out["method"], out["model"]), ("model", "upstream-model"))

    def test_summarizer_falls_back(self):
        gw = start_gateway(self)
        text = ("Atlas is a runtime for agents. The cat sat. Atlas pools warm agent processes "
                "for agents. It rained. Agents in Atlas speak MCP.")
        extractive = None
        for base, why in ((gw.base + "/none/v1", "not-available"),
                          (gw.base + "/budget/v1", "limit-exceeded"),
                          (gw.base + "/empty/v1", "answered nothing"),
                          (gw.base + "/garbage/v1", "protocol-error"),
                          ("http://127.0.0.1:1/v1", "unreachable")):
            with self.subTest(why=why):
                a = self.agent("summarizer", env={"OPENAI_BASE_URL": base})
                a.handshake()
                out = a.call({"text": text, "max_length": 12})["result"]["structuredContent"]
                self.assertEqual(out["method"], "extractive")
                self.assertNotIn("model", out)
                self.assertLessEqual(out["token_count"], 12)
                if extractive is None:
                    extractive = out
                self.assertEqual(out, extractive)  # the same summary every way
                logs = [n["params"]["data"] for n in a.notifications
                        if n.get("method") == "notifications/message"]
                self.assertTrue(any(why in str(line) for line in logs), logs)
        self.assertNotIn("cat", extractive["summary"])

    def test_summarizer_remembers_that_no_model_is_configured(self):
        gw = start_gateway(self)
        a = self.agent("summarizer", env={"OPENAI_BASE_URL": gw.base + "/none/v1"})
        a.handshake()
        for _ in range(3):
            out = a.call({"text": "One. Two. Three.", "max_length": 2})["result"]
            self.assertEqual(out["structuredContent"]["method"], "extractive")
        self.assertEqual(len(gw.seen), 1)  # asked once, not on every run

    def test_word_count(self):
        a = self.agent("word-count")
        self.assertEqual(a.handshake(), MODERN)
        r = a.call({"text": "Hello, Atlas world!\nhello again — it's Atlas", "top": 2})
        out = r["result"]["structuredContent"]
        self.assertEqual(out, {"words": 7, "characters": 44, "lines": 2,
                               "top_words": [{"word": "atlas", "count": 2},
                                             {"word": "hello", "count": 2}]})
        jsonschema.validate(out, contract("word-count")["output"]["schema"])
        self.assertEqual(a.call({"text": ""})["result"]["structuredContent"],
                         {"words": 0, "characters": 0, "lines": 0})
        r = a.call({"text": "x", "extra": 1})["result"]
        self.assertTrue(r["isError"])
        self.assertIn("/extra", r["content"][0]["text"])

    @unittest.skipUnless(shutil.which("node") and os.path.isdir(
        os.path.join(TS_ECHO, "node_modules", "@modelcontextprotocol", "sdk")),
        "ts-echo needs node and `npm ci` in examples/agents/ts-echo")
    def test_ts_echo_official_sdk(self):
        a = self.agent("ts-echo")
        # The official SDK speaks the handshake: discover is "Method not found".
        self.assertEqual(a.discover()["error"]["code"], -32601)
        self.assertEqual(a.handshake(), LEGACY)
        tools = a.tools()
        self.assertEqual([t["name"] for t in tools], ["ts-echo"])
        c = contract("ts-echo")
        t = tools[0]
        for side, key in (("input", "inputSchema"), ("output", "outputSchema")):
            ours, theirs = c[side]["schema"], t[key]
            self.assertEqual(sorted(ours["properties"]), sorted(theirs["properties"]))
            self.assertEqual(sorted(ours["required"]), sorted(theirs["required"]))
            for prop, sub in ours["properties"].items():
                self.assertEqual(sub["type"], theirs["properties"][prop]["type"])
        r = a.call({"text": "héllo"})["result"]
        self.assertEqual(r["structuredContent"], {"text": "héllo", "length": 5})
        self.assertEqual(json.loads(r["content"][0]["text"]), r["structuredContent"])
        jsonschema.validate(r["structuredContent"], c["output"]["schema"])
        r = a.call({"nope": 1})["result"]
        self.assertTrue(r["isError"])
        self.assertEqual(a.close(), 0)


if __name__ == "__main__":
    unittest.main()
