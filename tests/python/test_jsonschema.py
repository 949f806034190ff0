"""atlas.jsonschema: unit tests, and the official JSON-Schema-Test-Suite
(Debian's json-schema-test-suite) as a differential oracle."""

import glob
import json
import os
import unittest

import mcpdriver  # noqa: F401  (puts the SDK on sys.path)
from atlas import jsonschema as js

SUITE = "/usr/share/json-schema-test-suite/tests/draft7"

# Draft 7 ignores keywords beside $ref; we follow 2020-12 (which MCP tool
# schemas use) and evaluate them.  Remote refs and the meta-schema are out of
# scope (they raise SchemaError, counted below).
KNOWN_DIFFERENCES = {("ref overrides any sibling keywords", "ref valid, maxItems ignored")}
OUT_OF_SCOPE_FILES = {"refRemote.json", "definitions.json"}


class ValidatorTest(unittest.TestCase):
    def err(self, instance, schema):
        with self.assertRaises(js.ValidationError) as cm:
            js.validate(instance, schema)
        return cm.exception

    def test_types(self):
        self.assertTrue(js.is_valid(1, {"type": "integer"}))
        self.assertTrue(js.is_valid(1.0, {"type": "integer"}))
        self.assertFalse(js.is_valid(True, {"type": "integer"}))
        self.assertFalse(js.is_valid(True, {"type": "number"}))
        self.assertTrue(js.is_valid(None, {"type": ["string", "null"]}))
        e = self.err("x", {"type": "integer"})
        self.assertEqual((e.pointer, e.message), ("", "expected integer, got string"))

    def test_pointer_of_nested_error(self):
        schema = {"type": "object", "properties": {
            "a/b": {"type": "array", "items": {"type": "object",
                                               "properties": {"c~d": {"minimum": 3}}}}}}
        e = self.err({"a/b": [{"c~d": 5}, {"c~d": 1}]}, schema)
        self.assertEqual(e.pointer, "/a~1b/1/c~0d")
        self.assertEqual(str(e), "/a~1b/1/c~0d: must be >= 3")

    def test_required_and_additional(self):
        schema = {"type": "object", "properties": {"a": {}}, "required": ["a"],
                  "additionalProperties": False}
        self.assertEqual(self.err({}, schema).pointer, "/a")
        self.assertEqual(self.err({"a": 1, "b": 2}, schema).pointer, "/b")
        schema["additionalProperties"] = {"type": "string"}
        self.assertTrue(js.is_valid({"a": 1, "b": "x"}, schema))
        self.assertFalse(js.is_valid({"a": 1, "b": 2}, schema))

    def test_strings(self):
        s = {"type": "string", "minLength": 2, "maxLength": 3, "pattern": "^[a-zé]+$"}
        self.assertTrue(js.is_valid("éé", s))  # code points, not bytes
        self.assertFalse(js.is_valid("a", s))
        self.assertFalse(js.is_valid("abcd", s))
        self.assertFalse(js.is_valid("A1", s))

    def test_enum_const_equality(self):
        self.assertTrue(js.is_valid(1.0, {"enum": [1]}))
        self.assertFalse(js.is_valid(True, {"enum": [1]}))
        self.assertTrue(js.is_valid({"a": [1, 2]}, {"const": {"a": [1, 2]}}))
        self.assertFalse(js.is_valid({"a": [2, 1]}, {"const": {"a": [1, 2]}}))

    def test_combinators(self):
        self.assertTrue(js.is_valid(5, {"anyOf": [{"type": "string"}, {"minimum": 3}]}))
        self.assertFalse(js.is_valid(5, {"oneOf": [{"type": "integer"}, {"minimum": 3}]}))
        self.assertTrue(js.is_valid(2, {"oneOf": [{"type": "integer"}, {"minimum": 3}]}))
        self.assertFalse(js.is_valid(2, {"allOf": [{"type": "integer"}, {"minimum": 3}]}))
        self.assertFalse(js.is_valid(2, {"not": {"type": "integer"}}))
        # A single-branch anyOf reports the branch's own error.
        e = self.err({"x": 1}, {"anyOf": [{"properties": {"x": {"type": "string"}}}]})
        self.assertEqual(e.pointer, "/x")

    def test_local_refs(self):
        schema = {"$defs": {"pos": {"type": "integer", "minimum": 1}},
                  "definitions": {"node": {"type": "object", "properties": {
                      "next": {"$ref": "#/definitions/node"}, "v": {"$ref": "#/$defs/pos"}}}},
                  "$ref": "#/definitions/node"}
        self.assertTrue(js.is_valid({"v": 1, "next": {"v": 2, "next": {}}}, schema))
        self.assertEqual(self.err({"next": {"next": {"v": 0}}}, schema).pointer, "/next/next/v")
        with self.assertRaises(js.SchemaError):
            js.validate(1, {"$ref": "http://example.com/s.json"})
        with self.assertRaises(js.SchemaError):
            js.validate(1, {"$ref": "#/nope"})
        with self.assertRaises(js.SchemaError):  # a loop that never consumes input
            js.validate(1, {"$ref": "#"})

    def test_defaults(self):
        schema = {"type": "object", "properties": {
            "n": {"type": "integer", "default": 200},
            "o": {"type": "object", "default": {"k": []},
                  "properties": {"k": {"default": [1]}, "z": {"default": "zz"}}},
            "list": {"type": "array", "items": {"properties": {"d": {"default": 0}}}},
        }, "allOf": [{"properties": {"from_all_of": {"default": True}}}]}
        inst = {"list": [{}, {"d": 5}]}
        out = js.apply_defaults(inst, schema)
        self.assertEqual(out, {"n": 200, "o": {"k": [], "z": "zz"},
                               "list": [{"d": 0}, {"d": 5}], "from_all_of": True})
        self.assertEqual(inst, {"list": [{}, {"d": 5}]})  # the input is not modified
        out["o"]["k"].append(1)
        self.assertEqual(schema["properties"]["o"]["default"], {"k": []})
        self.assertEqual(js.apply_defaults(5, schema), 5)

    def test_bad_schemas(self):
        with self.assertRaises(js.SchemaError):
            js.validate(1, {"type": "float"})
        with self.assertRaises(js.SchemaError):
            js.validate("x", {"pattern": "("})
        with self.assertRaises(js.SchemaError):
            js.validate(1, [1])

    @unittest.skipUnless(os.path.isdir(SUITE), "json-schema-test-suite is not installed")
    def test_official_suite_draft7(self):
        ran = failures = out_of_scope = 0
        for path in sorted(glob.glob(os.path.join(SUITE, "*.json"))):
            if os.path.basename(path) in OUT_OF_SCOPE_FILES:
                continue
            with open(path) as f:
                groups = json.load(f)
            for group in groups:
                for case in group["tests"]:
                    key = (group["description"], case["description"])
                    try:
                        got = js.is_valid(case["data"], group["schema"])
                    except js.SchemaError:
                        out_of_scope += 1
                        continue
                    ran += 1
                    if key in KNOWN_DIFFERENCES:
                        self.assertNotEqual(got, case["valid"], f"{key} now agrees: update")
                        continue
                    if got != case["valid"]:
                        failures += 1
                        print(f"suite mismatch: {os.path.basename(path)}: {key}")
        self.assertEqual(failures, 0)
        self.assertGreater(ran, 350)
        self.assertLess(out_of_scope, 10)


if __name__ == "__main__":
    unittest.main()
