"""atlas.miniyaml: unit tests, located errors, and PyYAML (Debian's
python3-yaml, when installed) as a differential oracle on every agent.yaml
in the repository and on a corpus of snippets."""

import glob
import math
import os
import random
import unittest

from mcpdriver import REPO

from atlas import miniyaml as y

try:
    import yaml as pyyaml
except ImportError:  # the oracle is optional
    pyyaml = None

SPEC_AGENT_YAML = os.path.join(REPO, "examples", "agents", "summarizer", "agent.yaml")

CORPUS = [
    "a: 1\nb: two\nc: 3.5\nd: true\ne: null\nf: ~\ng:\n",
    "list:\n  - a\n  - b\n",
    "list:\n- a\n- b\nnext: 1\n",
    "- a\n- - b\n  - c\n- d: 1\n  e: 2\n-\n  f: 3\n",
    "m:\n  n:\n    o: [1, 2, {p: q, r: [s]}]\n",
    "flow: {a: 1, b: [x, y], 'c d': \"e\"}\n",
    "multi: [a,\n  b,\n  c]\n",
    "q1: 'it''s'\nq2: \"tab\\there\\u00e9\"\nq3: \"# not a comment\"\n",
    "k: v # comment\n# full line\n\n  # indented comment\nk2: v2\n",
    "url: http://example.com/a#frag\ncolon: a:b\n",
    "lit: |\n  line 1\n    line 2\n\n  line 3\nnext: x\n",
    "fold: >\n  a\n  b\n\n  c\n",
    "strip: |-\n  text\n\n\nkeep: |+\n  text\n\nz: 1\n",
    "plain: multi\n  line\n  value\n",
    "quoted: \"multi\n  line\"\n",
    "nums: [0, -1, +2, 0x1F, 0o17, 1e3, -2.5, .5, .inf, -.Inf]\n",
    "bools: [true, True, TRUE, false, False]\nnulls: [null, Null, ~]\n",
    "strings: [yes, no, on, off, 1.2.3, '123', 12:30]\n",
    "empty_flow: []\nempty_map: {}\n",
    "---\na: 1\n...\n",
    "\"quoted key\": 1\n'single key': 2\n",
    "entrypoint: [\"python3\", \"-m\", \"atlas.runner\", \"agent.py\"]\n",
    "schema:\n  type: object\n  properties:\n    text:\n      type: string\n"
    "      description: \"The text\"\n  required: [text]\n",
]

ERRORS = [
    ("a: 1\na: 2\n", 2, 1, "duplicate key"),
    ("a:\n\tb: 1\n", 2, 1, "tabs"),
    ("a: [1, 2\n", 1, 4, "unterminated"),
    ("a: &x 1\n", 1, 4, "anchors"),
    ("a: !!str 1\n", 1, 4, "tags"),
    ("a: 'open\n", 1, 4, "unterminated quoted"),
    ("a: 1\n  b: 2\n", 2, 3, ""),
    ("- a\nb: 1\n", 2, 1, "unexpected content"),
    ("a: b: c\n", 1, 5, "':'"),
    ("a: \"bad \\q\"\n", 1, 9, "escape"),
    ("? complex\n", 1, 1, "complex keys"),
    ("a: 1\n---\nb: 2\n", 2, 1, "several documents"),
    ("a: {b: 1, b: 2}\n", 1, 11, "duplicate key"),
]


def same(a, b):
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, z) for x, z in zip(a, b))
    return type(a) is type(b) and a == b


class MiniYAMLTest(unittest.TestCase):
    def test_spec_agent_yaml(self):
        doc = y.load(SPEC_AGENT_YAML)["agent"]
        self.assertEqual(doc["name"], "summarizer")
        self.assertEqual(doc["input"]["schema"]["required"], ["text"])
        self.assertEqual(doc["input"]["schema"]["properties"]["max_length"],
                         {"type": "integer", "default": 200})
        self.assertEqual(doc["requires"], {"platform_tools": False, "spawn_agents": False,
                                           "skills": []})
        self.assertEqual(doc["hardware"]["device_access"], [])
        self.assertEqual(doc["hardware"]["node_affinity"], "")
        self.assertEqual(doc["lifecycle"]["shutdown"], "on_shutdown")
        self.assertEqual(doc["dependencies"], {"python": ">=3.11", "packages": []})

    def test_values(self):
        self.assertEqual(y.loads("nums: [0x1F, 0o17, .5, -1]\n")["nums"], [31, 15, 0.5, -1])
        self.assertEqual(y.loads("s: [yes, on, 1.2.3]\n")["s"], ["yes", "on", "1.2.3"])
        self.assertEqual(y.loads("lit: |\n  a\n   b\n")["lit"], "a\n b\n")
        self.assertEqual(y.loads("f: >-\n  a\n  b\n\n  c\n")["f"], "a b\nc")
        self.assertEqual(y.loads("- x: 1\n  y: [a]\n"), [{"x": 1, "y": ["a"]}])
        self.assertIsNone(y.loads(""))
        self.assertIsNone(y.loads("# only a comment\n"))
        self.assertEqual(y.loads("\ufeffa: 1\r\nb: 2\r\n"), {"a": 1, "b": 2})
        self.assertEqual(y.loads("plain"), "plain")

    def test_located_errors(self):
        for text, line, col, msg in ERRORS:
            with self.subTest(text=text):
                with self.assertRaises(y.YAMLError) as cm:
                    y.loads(text, filename="agent.yaml")
                e = cm.exception
                self.assertEqual((e.line, e.col), (line, col), str(e))
                self.assertIn(msg, e.message)
                self.assertTrue(str(e).startswith(f"agent.yaml:{line}:{col}: "))

    def test_deep_nesting_is_an_error_not_a_crash(self):
        with self.assertRaises(y.YAMLError):
            y.loads("a: " + "[" * 500 + "]" * 500 + "\n")
        deep = "".join("  " * i + f"k{i}:\n" for i in range(200))
        with self.assertRaises(y.YAMLError):
            y.loads(deep)

    @unittest.skipIf(pyyaml is None, "python3-yaml is not installed")
    def test_corpus_matches_pyyaml(self):
        for text in CORPUS:
            with self.subTest(text=text):
                ours = y.loads(text)
                theirs = pyyaml.load(text, Loader=pyyaml.BaseLoader)
                # BaseLoader keeps every scalar a string; compare structure and,
                # with the safe loader, values where YAML 1.1 and 1.2 agree.
                safe = pyyaml.safe_load(text)
                self.assertTrue(self._shape_equal(ours, theirs), f"{ours!r} vs {theirs!r}")
                if not any(w in text for w in ("yes", "on", "0o", "12:30", "+2", "nums")):
                    self.assertTrue(same(ours, safe), f"{ours!r} vs {safe!r}")

    def _shape_equal(self, ours, base):
        if isinstance(ours, dict):
            return isinstance(base, dict) and len(ours) == len(base) and all(
                self._shape_equal(v, base[b]) for (k, v), b in zip(ours.items(), base))
        if isinstance(ours, list):
            return isinstance(base, list) and len(ours) == len(base) and all(
                self._shape_equal(a, b) for a, b in zip(ours, base))
        if isinstance(ours, str):
            return ours == base
        if ours is None and base is None:
            return True
        return isinstance(base, str)

    def test_mutations_fail_cleanly_and_agree_with_pyyaml(self):
        """Seeded mutations of the corpus: only YAMLError may escape, and where
        both parsers accept a text they build the same structure."""
        rnd = random.Random(20260728)
        alphabet = list(" \n\t-:#[]{},'\"|>&*!?abc01.\\~")
        for _ in range(3000):
            s = list(rnd.choice(CORPUS))
            for _ in range(rnd.randint(1, 4)):
                pos = rnd.randint(0, len(s))
                op = rnd.random()
                if op < 0.4:
                    s.insert(pos, rnd.choice(alphabet))
                elif s and op < 0.7:
                    del s[min(pos, len(s) - 1)]
                elif s:
                    s[min(pos, len(s) - 1)] = rnd.choice(alphabet)
            text = "".join(s)
            try:
                ours = y.loads(text)
            except y.YAMLError:
                continue
            if pyyaml is None:
                continue
            try:
                theirs = pyyaml.load(text, Loader=pyyaml.BaseLoader)
            except pyyaml.YAMLError:
                continue  # we are more lenient in places (YAML 1.2 plain scalars)
            self.assertTrue(self._shape_equal(ours, theirs), repr(text))

    @unittest.skipIf(pyyaml is None, "python3-yaml is not installed")
    def test_every_agent_yaml_matches_pyyaml(self):
        paths = sorted(glob.glob(os.path.join(REPO, "examples", "agents", "*", "agent.yaml"))
                       + glob.glob(os.path.join(REPO, "tests", "agents", "*", "agent.yaml")))
        self.assertGreater(len(paths), 10)
        for path in paths:
            with self.subTest(path=path):
                with open(path) as f:
                    self.assertTrue(same(y.load(path), pyyaml.safe_load(f)))


if __name__ == "__main__":
    unittest.main()
