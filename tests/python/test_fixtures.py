"""The fixture agents under tests/agents behave as their agent.yaml says,
so that the runtime's tests can rely on them."""

import os
import signal
import time
import unittest

from mcpdriver import FIXTURES, LEGACY, MODERN, PV, Agent, ProtocolError

from atlas import jsonschema, miniyaml


def fixture(name):
    return os.path.join(FIXTURES, name)


class FixtureTest(unittest.TestCase):
    def agent(self, name, **kw):
        a = Agent(fixture(name), **kw)
        self.addCleanup(a.kill)
        return a

    def contract(self, name):
        return miniyaml.load(os.path.join(fixture(name), "agent.yaml"))["agent"]

    def test_every_fixture_has_a_contract_named_like_its_dir(self):
        names = sorted(os.listdir(FIXTURES))
        for expected in ("crash", "hang", "garbage", "flood", "raise", "bad-output", "slow",
                         "stateless", "legacy", "startup-fail", "counter", "idem", "pydep"):
            self.assertIn(expected, names)
        for name in names:
            with self.subTest(agent=name):
                c = self.contract(name)
                self.assertEqual(c["name"], name)
                self.assertIsInstance(c["input"]["schema"], dict)
                self.assertIsInstance(c["output"]["schema"], dict)

    def test_crash_exits_mid_call(self):
        a = self.agent("crash")
        a.handshake()
        with self.assertRaises(ProtocolError):
            a.call({"code": 5})
        self.assertEqual(a.proc.wait(5), 5)
        self.assertTrue(a.wait_stderr("exiting mid-call"), a.stderr)
        self.assertTrue(any(n["method"] == "notifications/message" for n in a.notifications))

    def test_hang_ignores_cancel_by_default(self):
        a = self.agent("hang")
        a.handshake()
        a.send({"jsonrpc": "2.0", "id": 40, "method": "tools/call",
                "params": {"name": "hang", "arguments": {}}})
        with self.assertRaises(TimeoutError):
            a.recv(1)
        a.notify("notifications/cancelled", {"requestId": 40})
        with self.assertRaises(TimeoutError):
            a.recv(1.5)
        self.assertTrue(a.wait_stderr("ignoring the cancel"), a.stderr)
        # Closing stdin still ends it once the SDK's shutdown grace is over
        # (1.5 s to finish, 1.5 s after the cancel), before the runtime's 5 s.
        t0 = time.monotonic()
        self.assertEqual(a.close(10), 0)
        self.assertLess(time.monotonic() - t0, 7)  # 3 s of grace, plus slack for load
        self.assertEqual(self.contract("hang")["timeout"], 3)

    def test_hang_honor_cancel(self):
        a = self.agent("hang")
        a.handshake()
        a.send({"jsonrpc": "2.0", "id": 41, "method": "tools/call",
                "params": {"name": "hang", "arguments": {"honor_cancel": True}}})
        self.assertTrue(a.wait_stderr("hang: not answering"), a.stderr)
        a.notify("notifications/cancelled", {"requestId": 41})
        self.assertEqual(a.wait_response(41, 30)["error"]["code"], -32800)

    def test_hang_block_needs_sigkill(self):
        a = self.agent("hang")
        a.handshake()
        a.send({"jsonrpc": "2.0", "id": 42, "method": "tools/call",
                "params": {"name": "hang", "arguments": {"block": True}}})
        self.assertTrue(a.wait_stderr("hang: not answering"), a.stderr)
        a.proc.stdin.close()
        os.killpg(a.proc.pid, signal.SIGTERM)
        time.sleep(1)
        self.assertIsNone(a.proc.poll())
        a.kill()
        self.assertEqual(a.proc.returncode, -signal.SIGKILL)

    def test_garbage_modes(self):
        a = self.agent("garbage")
        self.assertEqual(a.handshake(), MODERN)
        a.send({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                "params": {"name": "garbage", "arguments": {}}})
        with self.assertRaises(ValueError):
            import json
            json.loads(a.recv_raw())
        self.assertEqual(a.recv()["id"], 7)  # a valid answer follows the garbage

        b = self.agent("garbage")
        b.initialize()
        b.modern = False
        b.send({"jsonrpc": "2.0", "id": 8, "method": "tools/call",
                "params": {"name": "garbage", "arguments": {"mode": "json"}}})
        msg = b.recv()
        self.assertNotIn("jsonrpc", msg)

        c = self.agent("garbage")
        c.handshake()
        c.send({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
                "params": {"name": "garbage", "arguments": {"mode": "partial"}}})
        self.assertEqual(c.recv_raw(), b'{"jsonrpc":"2.0","id":')
        self.assertIsNone(c.recv_raw())

    def test_flood_huge_line(self):
        a = self.agent("flood")
        a.handshake()
        size = 5 * 1024 * 1024
        a.send({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                "params": {"name": "flood", "arguments": {"mode": "line", "bytes": size}}})
        line = a.recv_raw(30)
        self.assertGreater(len(line), 4 * 1024 * 1024)
        import json
        msg = json.loads(line)  # valid, just too long for the runtime
        self.assertEqual(msg["id"], 3)

    def test_flood_nonewline(self):
        a = self.agent("flood", max_line=1024 * 1024)
        a.handshake()
        a.send({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                "params": {"name": "flood", "arguments": {"mode": "nonewline", "bytes": 10}}})
        chunk = a.recv_raw(30)
        self.assertEqual(len(chunk), 1024 * 1024 + 1)
        self.assertNotIn(b"\n", chunk)

    def test_flood_endless_and_stderr(self):
        a = self.agent("flood")
        a.handshake()
        a.send({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                "params": {"name": "flood", "arguments": {"mode": "endless"}}})
        for _ in range(2000):
            self.assertEqual(a.recv()["method"], "notifications/message")
        b = self.agent("flood")
        b.handshake()
        b.send({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                "params": {"name": "flood", "arguments": {"mode": "stderr"}}})
        deadline = time.monotonic() + 10
        while len(b.stderr) < 1024 * 1024 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertGreaterEqual(len(b.stderr), 1024 * 1024)

    def test_raise(self):
        a = self.agent("raise")
        a.handshake()
        r = a.call({})["result"]
        self.assertTrue(r["isError"])
        self.assertEqual(r["content"][0]["text"], "raise: deliberate failure")
        r = a.call({"message": "custom"})["result"]
        self.assertEqual(r["content"][0]["text"], "custom")
        self.assertTrue(a.wait_stderr("ValueError"), a.stderr)
        self.assertEqual(a.close(), 0)

    def test_bad_output_reaches_the_runtime(self):
        a = self.agent("bad-output")
        a.handshake()
        r = a.call({})["result"]
        self.assertNotIn("isError", r)
        schema = self.contract("bad-output")["output"]["schema"]
        with self.assertRaises(jsonschema.ValidationError) as cm:
            jsonschema.validate(r["structuredContent"], schema)
        self.assertEqual(cm.exception.pointer, "/count")

    def test_slow_sleeps_and_echoes(self):
        a = self.agent("slow")
        a.handshake()
        t0 = time.monotonic()
        r = a.call({"ms": 300}, meta={"progressToken": "p"})["result"]
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)
        self.assertEqual(r["structuredContent"], {"ms": 300})
        prog = [n["params"]["progress"] for n in a.notifications
                if n["method"] == "notifications/progress"]
        self.assertEqual(prog, [0, 300])
        self.assertEqual(a.call({})["result"]["structuredContent"], {"ms": 1000})

    def test_slow_answers_cancel(self):
        a = self.agent("slow")
        a.handshake()
        a.send({"jsonrpc": "2.0", "id": 11, "method": "tools/call",
                "params": {"name": "slow", "arguments": {"ms": 20000},
                           "_meta": {"progressToken": "p"}}})
        # its first progress notification says it is sleeping
        self.assertEqual(a.recv(30)["method"], "notifications/progress")
        a.notify("notifications/cancelled", {"requestId": 11, "reason": "timeout"})
        # within the 20 s sleep: only the cancel can end it this early
        self.assertEqual(a.wait_response(11, 15)["error"]["code"], -32800)

    def test_stateless_is_2026_only(self):
        a = self.agent("stateless")
        r = a.discover()["result"]
        self.assertEqual(r["supportedVersions"], [MODERN])
        self.assertEqual(a.initialize()["error"]["code"], -32601)
        self.assertEqual(a.request("ping", envelope=False)["error"]["code"], -32601)
        self.assertEqual(a.request("tools/list", envelope=False)["error"]["code"], -32602)
        r = a.request("tools/list", {"_meta": {PV: "2025-11-25",
                                               "io.modelcontextprotocol/clientCapabilities": {}}})
        self.assertEqual(r["error"]["code"], -32022)
        self.assertEqual(a.handshake(), MODERN)
        self.assertEqual(a.tools()[0]["name"], "stateless")
        r = a.call({"x": [1, 2]})["result"]
        self.assertEqual(r["structuredContent"], {"x": [1, 2]})
        self.assertEqual(r["resultType"], "complete")

    def test_legacy_is_2025_only_and_strict(self):
        a = self.agent("legacy")
        self.assertEqual(a.discover()["error"]["code"], -32601)
        self.assertEqual(a.request("tools/list", envelope=False)["error"]["code"], -32600)
        self.assertEqual(a.request("ping", envelope=False)["result"], {})
        r = a.request("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                     "clientInfo": {"name": "t", "version": "1"}})
        self.assertEqual(r["result"]["protocolVersion"], "2025-06-18")
        # Not yet initialized: the notification has not been sent.
        self.assertEqual(a.request("tools/list", envelope=False)["error"]["code"], -32600)
        b = self.agent("legacy")
        self.assertEqual(b.handshake(), LEGACY)
        self.assertEqual(b.tools()[0]["name"], "legacy")
        self.assertEqual(b.call({"y": "z"})["result"]["structuredContent"], {"y": "z"})

    def test_startup_fail(self):
        a = self.agent("startup-fail")
        a.send({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {}})
        self.assertIsNone(a.recv(10))
        self.assertEqual(a.proc.wait(5), 1)
        self.assertTrue(a.wait_stderr("deliberate failure in on_startup"), a.stderr)

    def test_counter_proves_warm_reuse(self):
        a = self.agent("counter")
        a.handshake()
        outs = [a.call({})["result"]["structuredContent"] for _ in range(3)]
        self.assertEqual([o["calls"] for o in outs], [1, 2, 3])
        self.assertEqual({o["pid"] for o in outs}, {a.proc.pid})
        self.assertEqual(self.contract("counter")["pool"], {"min": 1, "max": 1,
                                                            "idle_timeout": 60})

    def test_idem(self):
        self.assertIs(self.contract("idem")["idempotent"], True)
        a = self.agent("idem")
        a.handshake()
        self.assertEqual(a.tools()[0]["annotations"], {"idempotentHint": True})
        self.assertEqual(a.call({"ms": 10, "k": 1})["result"]["structuredContent"],
                         {"ms": 10, "k": 1})

    def test_pydep_declares_an_impossible_python(self):
        self.assertEqual(self.contract("pydep")["dependencies"]["python"], ">=9.0")
        a = self.agent("pydep")
        a.handshake()
        self.assertEqual(a.call({"a": 1})["result"]["structuredContent"], {"a": 1})


if __name__ == "__main__":
    unittest.main()
