"""The example agents under examples/agents, driven over stdio.  ts-echo is
skipped until `npm ci` has run in its directory (and node is installed)."""

import json
import os
import shutil
import unittest

from mcpdriver import EXAMPLES, LEGACY, MODERN, Agent

from atlas import jsonschema, miniyaml

TS_ECHO = os.path.join(EXAMPLES, "ts-echo")


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
        self.assertEqual(c["output"]["schema"], {"type": "object", "properties": {
            "summary": {"type": "string"}, "token_count": {"type": "integer"}}})
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
