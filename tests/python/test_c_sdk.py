"""The C SDK (sdk/c), driven through tests/agents/c-probe and
examples/agents/echo-c.  Skipped when the agents have not been built (a plain
`cmake --build build` writes them next to their agent.yaml)."""

import json
import os
import shutil
import signal
import tempfile
import time
import unittest

from mcpdriver import EXAMPLES, FIXTURES, LEGACY, MODERN, PV, Agent

PROBE = os.path.join(FIXTURES, "c-probe")
ECHO = os.path.join(EXAMPLES, "echo-c")


def built(d):
    return os.access(os.path.join(d, "agent"), os.X_OK)


@unittest.skipUnless(built(PROBE) and built(ECHO), "C agents not built (cmake --build build)")
class CSDKTest(unittest.TestCase):
    def agent(self, d=PROBE, **kw):
        a = Agent(d, **kw)
        self.addCleanup(a.kill)
        return a

    def test_handshakes(self):
        a = self.agent()
        r = a.discover()["result"]
        self.assertEqual(r["supportedVersions"], [MODERN, LEGACY])
        self.assertEqual(r["serverInfo"], {"name": "c-probe", "version": "1.0.0"})
        self.assertEqual(r["resultType"], "complete")
        for v in ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"):
            self.assertEqual(a.initialize(v)["result"]["protocolVersion"], v)
        self.assertEqual(a.initialize("2031-01-01")["result"]["protocolVersion"], LEGACY)
        r = a.request("ping", {"_meta": {PV: "1999-01-01"}})
        self.assertEqual(r["error"]["code"], -32022)
        self.assertEqual(r["error"]["data"]["requested"], "1999-01-01")
        self.assertEqual(a.request("ping", envelope=False)["result"], {})
        self.assertTrue(a.wait_stderr("c-probe: startup"), a.stderr)
        self.assertEqual(a.close(), 0)
        self.assertTrue(a.wait_stderr("c-probe: shutdown"), a.stderr)

    def test_tools_list_default_and_from_contract(self):
        a = self.agent()
        a.handshake()
        self.assertEqual(a.tools(), [{"name": "c-probe", "inputSchema": {"type": "object"},
                                      "outputSchema": {"type": "object"}}])
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d, True)
        contract = {"name": "probe2", "version": "3.1.4", "description": "from the contract",
                    "idempotent": True,
                    "input": {"schema": {"type": "object", "required": ["op"]}},
                    "output": {"schema": {"type": "object",
                                          "properties": {"ok": {"type": "boolean"}}}}}
        path = os.path.join(d, "contract.json")
        with open(path, "w") as f:
            json.dump({"agent": contract}, f)
        b = self.agent(env={"ATLAS_CONTRACT": path})
        b.handshake()
        t = b.tools()[0]
        self.assertEqual(t["name"], "probe2")
        self.assertEqual(t["description"], "from the contract")
        self.assertEqual(t["inputSchema"], contract["input"]["schema"])
        self.assertEqual(t["outputSchema"], contract["output"]["schema"])
        self.assertEqual(t["annotations"], {"idempotentHint": True})
        self.assertEqual(b.discover()["result"]["serverInfo"]["version"], "3.1.4")
        c = self.agent(env={"ATLAS_CONTRACT": path, "ATLAS_AGENT_NAME": "renamed"})
        c.handshake()
        self.assertEqual(c.tools()[0]["name"], "renamed")
        self.assertEqual(c.call({"x": 1}, name="renamed")["result"]["structuredContent"],
                         {"x": 1})
        bad = self.agent(env={"ATLAS_CONTRACT": os.path.join(d, "missing.json")})
        self.assertEqual(bad.proc.wait(5), 2)
        self.assertTrue(bad.wait_stderr("missing.json"), bad.stderr)

    def test_call_results_both_revisions(self):
        for modern in (True, False):
            with self.subTest(modern=modern):
                a = self.agent()
                if modern:
                    a.handshake()
                else:
                    a.initialize()
                    a.modern = False
                arg = {"text": 'quote " backslash \\ é \u2028 \n', "n": [1, 2.5, None, True]}
                r = a.call(arg)["result"]
                self.assertEqual(r["structuredContent"], arg)
                self.assertEqual(json.loads(r["content"][0]["text"]), arg)
                self.assertEqual(r.get("resultType"), "complete" if modern else None)

    def test_fail_none_and_scalar(self):
        a = self.agent()
        a.handshake()
        r = a.call({"op": "fail", "message": "bad thing"})["result"]
        self.assertEqual(r, {"isError": True, "resultType": "complete",
                             "content": [{"type": "text", "text": "c-probe failed: bad thing"}]})
        r = a.call({"op": "none"})["result"]
        self.assertTrue(r["isError"])
        r = a.call({"op": "scalar"})["result"]
        self.assertNotIn("structuredContent", r)
        self.assertEqual(r["content"][0]["text"], "42")
        self.assertEqual(a.call({"op": "bogus"})["result"]["content"][0]["text"],
                         "unknown op bogus")

    def test_notifications_and_usage(self):
        a = self.agent()
        a.handshake()
        r = a.call({"op": "notify"}, meta={"progressToken": 17})["result"]
        self.assertEqual(r["structuredContent"], {"ok": True})
        self.assertEqual(r["_meta"]["io.atlas/usage"],
                         {"tokens_in": 11, "tokens_out": 22, "model": "m1"})
        logs = [n["params"] for n in a.notifications if n["method"] == "notifications/message"]
        self.assertEqual(logs, [{"level": "info", "logger": "c-probe", "data": "hello from c"},
                                {"level": "warning", "logger": "c-probe", "data": "careful"}])
        prog = [n["params"] for n in a.notifications if n["method"] == "notifications/progress"]
        self.assertEqual(prog, [{"progressToken": 17, "progress": 1.0, "total": 2.0,
                                 "message": "half"},
                                {"progressToken": 17, "progress": 2.0}])
        a.notifications.clear()
        a.call({"op": "notify"})  # no progressToken: no progress
        self.assertFalse([n for n in a.notifications if n["method"] == "notifications/progress"])

    def test_context(self):
        a = self.agent(env={"ATLAS_TOKEN": "proc"})
        a.handshake()
        out = a.call({"op": "context"}, meta={"io.atlas/jobId": "job_1",
                                              "io.atlas/token": "tok"})["result"]
        self.assertEqual(out["structuredContent"], {"job": "job_1", "token": "tok",
                                                    "name": "c-probe"})
        out = a.call({"op": "context"})["result"]["structuredContent"]
        self.assertEqual((out["job"], out["token"]), (None, "proc"))

    def test_cancel(self):
        a = self.agent()
        a.handshake()
        a.send({"jsonrpc": "2.0", "id": "c1", "method": "tools/call",
                "params": {"name": "c-probe", "arguments": {"op": "wait_cancel"}}})
        time.sleep(0.2)
        a.notify("notifications/cancelled", {"requestId": "other"})
        a.send({"jsonrpc": "2.0", "id": 99, "method": "ping"})  # queued behind the call
        time.sleep(0.2)
        t0 = time.monotonic()
        a.notify("notifications/cancelled", {"requestId": "c1", "reason": "test"})
        r = a.wait_response("c1", 5)
        self.assertLess(time.monotonic() - t0, 3)  # it polls every 10 ms; slack for load
        self.assertEqual(r["error"]["code"], -32800)
        self.assertEqual(a.wait_response(99, 5)["result"], {})
        self.assertTrue(a.wait_stderr("saw the cancel"), a.stderr)
        self.assertEqual(a.call({"op": "echo"})["result"]["structuredContent"], {"op": "echo"})

    def test_eof_during_call_and_sigterm(self):
        a = self.agent()
        a.handshake()
        a.send({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
                "params": {"name": "c-probe", "arguments": {"op": "wait_cancel"}}})
        time.sleep(0.2)
        self.assertEqual(a.close(5), 0)
        self.assertTrue(a.wait_stderr("c-probe: shutdown"), a.stderr)
        b = self.agent()
        b.handshake()
        b.proc.send_signal(signal.SIGTERM)
        self.assertEqual(b.proc.wait(5), 0)
        self.assertTrue(b.wait_stderr("c-probe: shutdown"), b.stderr)

    def test_startup_failure(self):
        a = self.agent(env={"C_PROBE_FAIL_STARTUP": "1"})
        self.assertIsNone(a.recv(5))  # exits without a word on stdout
        self.assertEqual(a.proc.wait(5), 1)
        self.assertTrue(a.wait_stderr("on_startup failed"), a.stderr)

    def test_stdout_hygiene(self):
        a = self.agent()
        a.handshake()
        self.assertEqual(a.call({"op": "printf"})["result"]["structuredContent"], {"ok": True})
        a.close()
        for noise in ("printf noise", "write noise", "child noise"):
            self.assertTrue(a.wait_stderr(noise), a.stderr)
        while True:
            line = a.recv_raw(5)
            if line is None:
                break
            json.loads(line)

    def test_malformed_input_and_line_limit(self):
        a = self.agent(env={"C_PROBE_MAX_LINE": "200"})
        a.send_raw(b"not json\n")
        r = a.recv()
        self.assertEqual((r["id"], r["error"]["code"]), (None, -32700))
        a.send_raw(b"[]\n")
        self.assertEqual(a.recv()["error"]["code"], -32600)
        a.send_raw(b'{"id":1,"method":"ping"}\n')
        self.assertEqual(a.recv()["error"]["code"], -32600)
        a.send_raw(b'{"jsonrpc":"2.0","id":2,"method":"ping","params":3}\n')
        self.assertEqual(a.recv()["error"]["code"], -32602)
        a.send_raw(b'{"jsonrpc":"2.0","id":{},"method":"ping"}\n')
        self.assertEqual(a.recv()["error"]["code"], -32600)
        a.send_raw(b'{"jsonrpc":"2.0","id":3,"method":"ping","x":1,"x":2}\n')
        self.assertEqual(a.recv()["error"]["code"], -32700)  # duplicate keys
        a.send_raw(b'{"jsonrpc":"2.0","id":4,"method":"tools/call","params":'
                   b'{"name":"c-probe","arguments":"s"}}\n')
        self.assertEqual(a.recv()["error"]["code"], -32602)
        a.send_raw(b"\n  \n")
        a.send_raw(b'{"jsonrpc":"2.0","id":5,"method":"ping","params":{"p":"' + b"x" * 100000
                   + b'"}}\n')
        r = a.recv()
        self.assertEqual((r["id"], r["error"]["code"]), (None, -32700))
        self.assertEqual(a.request("ping", envelope=False)["result"], {})
        # A line split across many writes is reassembled.
        msg = b'{"jsonrpc":"2.0","id":6,"method":"ping"}\n'
        for i in range(len(msg)):
            a.send_raw(msg[i:i + 1])
        self.assertEqual(a.recv()["id"], 6)

    def test_echo_c_example(self):
        a = self.agent(ECHO)
        self.assertEqual(a.handshake(), MODERN)
        self.assertEqual(a.tools()[0]["name"], "echo-c")
        for i in range(200):
            self.assertEqual(a.call({"i": i})["result"]["structuredContent"], {"i": i})
        self.assertEqual(a.close(), 0)


if __name__ == "__main__":
    unittest.main()
