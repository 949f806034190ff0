"""The C SDK (sdk/c), driven through tests/agents/c-probe and
examples/agents/echo-c.  Skipped when the agents have not been built (a plain
`cmake --build build` writes them next to their agent.yaml)."""

import base64
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
        self.assertTrue(a.wait_stderr("waiting for a cancel"), a.stderr)
        a.notify("notifications/cancelled", {"requestId": "other"})
        a.send({"jsonrpc": "2.0", "id": 99, "method": "ping"})  # queued behind the call
        a.notify("notifications/cancelled", {"requestId": "c1", "reason": "test"})
        # an unseen cancel would let the call run its 30 s and answer a result
        r = a.wait_response("c1", 60)
        self.assertEqual(r["error"]["code"], -32800)
        self.assertEqual(a.wait_response(99, 5)["result"], {})
        self.assertTrue(a.wait_stderr("saw the cancel"), a.stderr)
        self.assertEqual(a.call({"op": "echo"})["result"]["structuredContent"], {"op": "echo"})

    def test_eof_during_call_and_sigterm(self):
        a = self.agent()
        a.handshake()
        a.send({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
                "params": {"name": "c-probe", "arguments": {"op": "wait_cancel"}}})
        self.assertTrue(a.wait_stderr("waiting for a cancel"), a.stderr)
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


SPAWNER = os.path.join(FIXTURES, "c-spawner")


@unittest.skipUnless(built(SPAWNER), "C agents not built (cmake --build build)")
class CSDKPlatformTest(unittest.TestCase):
    """atlas_ctx_spawn / spawn_chain / call_tool (tests/agents/c-spawner)
    against the fake platform of test_platform.py."""

    @classmethod
    def setUpClass(cls):
        from http.server import ThreadingHTTPServer

        from test_platform import FakePlatform, start
        cls.httpd = start(ThreadingHTTPServer(("127.0.0.1", 0), FakePlatform))
        cls.url = f"http://127.0.0.1:{cls.httpd.server_address[1]}/mcp"

    @classmethod
    def tearDownClass(cls):
        cls.httpd.shutdown()
        cls.httpd.server_close()

    def setUp(self):
        self.httpd.seen.clear()

    def agent(self, url=None, **env):
        env.setdefault("ATLAS_TOKEN", "process-token")
        if url is not False:
            env["ATLAS_MCP_URL"] = url or self.url
        a = Agent(SPAWNER, env=env)
        self.addCleanup(a.kill)
        a.handshake()
        return a

    META = {"io.atlas/token": "job-token", "io.atlas/jobId": "job_parent",
            "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "tracestate": "k=v", "progressToken": "job_parent"}

    def call(self, a, args, meta=META, timeout=30):
        return a.call(args, meta=meta, timeout=timeout)

    def test_spawn_request_shape(self):
        a = self.agent()
        r = self.call(a, {"agent": "web-searcher", "input": {"query": "q"}})["result"]
        self.assertEqual(r["structuredContent"], {"children": [
            {"needs_deeper_analysis": True, "raw_data": [1, 2, 3]}]})
        req = self.httpd.seen[0]
        self.assertEqual(req["path"], "/mcp")
        h = req["headers"]
        self.assertEqual(h["authorization"], "Bearer job-token")
        self.assertEqual(h["mcp-protocol-version"], "2026-07-28")
        self.assertEqual(h["mcp-method"], "tools/call")
        self.assertEqual(h["mcp-name"], "atlas.exec.spawn")
        self.assertEqual(h["accept"], "application/json, text/event-stream")
        self.assertEqual(h["content-type"], "application/json")
        self.assertNotIn("expect", h)
        body = req["body"]
        self.assertEqual((body["jsonrpc"], body["method"]), ("2.0", "tools/call"))
        self.assertIsInstance(body["id"], int)
        p = body["params"]
        self.assertEqual(p["name"], "atlas.exec.spawn")
        self.assertEqual(p["arguments"], {"agent": "web-searcher", "input": {"query": "q"}})
        meta = p["_meta"]
        self.assertEqual(meta["io.modelcontextprotocol/protocolVersion"], "2026-07-28")
        self.assertEqual(meta["io.modelcontextprotocol/clientCapabilities"], {})
        self.assertEqual(meta["io.modelcontextprotocol/clientInfo"]["name"], "atlas-sdk-c")
        self.assertEqual(meta["io.atlas/jobId"], "job_parent")
        self.assertEqual((meta["traceparent"], meta["tracestate"]),
                         (self.META["traceparent"], "k=v"))
        self.assertNotIn("io.atlas/token", meta)  # the token travels in the header only
        self.assertNotIn("progressToken", meta)

    def test_many_calls_new_ids(self):
        a = self.agent()
        r = self.call(a, {"agent": "x", "input": {"k": 1}, "count": 3})["result"]
        self.assertEqual(r["structuredContent"]["children"],
                         [{"agent": "x", "input": {"k": 1}}] * 3)
        ids = [s["body"]["id"] for s in self.httpd.seen]
        self.assertEqual(len(set(ids)), 3)
        # no input: an empty object
        self.call(a, {"agent": "y"})
        self.assertEqual(self.httpd.seen[-1]["body"]["params"]["arguments"],
                         {"agent": "y", "input": {}})

    def test_chain_and_tool(self):
        a = self.agent()
        self.call(a, {"op": "chain", "chain": "pipeline", "input": {"t": 1}})
        p = self.httpd.seen[0]["body"]["params"]
        self.assertEqual((p["name"], p["arguments"]),
                         ("atlas.exec.spawn_chain", {"chain": "pipeline", "input": {"t": 1}}))
        self.assertEqual(self.httpd.seen[0]["headers"]["mcp-name"], "atlas.exec.spawn_chain")
        r = self.call(a, {"op": "tool", "tool": "atlas.skills.invoke",
                          "input": {"skill": "s", "input": {"q": 1}}})["result"]
        self.assertEqual(r["structuredContent"], {"output": {"skill": "s", "echo": {"q": 1}}})
        # text content only: parsed as JSON; text that is not JSON: a string
        r = self.call(a, {"op": "tool", "tool": "atlas.registry.list"})["result"]
        self.assertEqual(r["structuredContent"], {"output": {"agents": ["a"]}})
        r = self.call(a, {"op": "try", "agent": "text-only"})["result"]
        self.assertEqual(r["structuredContent"], {"output": "plain words"})
        # a name that is not ASCII travels in MCP's base64 form in the header
        self.call(a, {"op": "tool", "tool": "atlas.tëst"})
        self.assertEqual(self.httpd.seen[-1]["headers"]["mcp-name"],
                         "=?base64?" + base64.b64encode("atlas.tëst".encode()).decode() + "?=")
        self.assertEqual(self.httpd.seen[-1]["body"]["params"]["name"], "atlas.tëst")

    def test_sse_answer(self):
        a = self.agent()
        r = self.call(a, {"op": "try", "agent": "sse"})["result"]
        self.assertEqual(r["structuredContent"], {"output": {"via": "sse"}})

    def test_errors(self):
        a = self.agent()

        def attempt(agent, meta=self.META):
            return self.call(a, {"op": "try", "agent": agent}, meta)["result"]["structuredContent"]

        self.assertEqual(attempt("fails"), {"rc": -1, "code": "timeout",
                                            "message": "child timed out"})
        self.assertEqual(attempt("fails-plain"), {"rc": -1, "code": "tool-error",
                                                  "message": "no such agent"})
        self.assertEqual(attempt("rpc-error"), {"rc": -2, "code": "-32602",
                                                "message": "bad arguments"})
        self.assertEqual(attempt("not-rpc")["code"], "protocol-error")
        # without the job token in _meta the process token is used: refused (a problem)
        self.assertEqual(attempt("x", meta=None), {"rc": -3, "code": "http-401",
                                                   "message": "bad token"})
        self.assertEqual(self.httpd.seen[-1]["headers"]["authorization"], "Bearer process-token")
        # returning the error fails the call with the tool error's text
        r = self.call(a, {"op": "fail", "agent": "fails"})["result"]
        self.assertTrue(r["isError"])
        self.assertEqual(r["content"][0]["text"], "child timed out")
        self.assertTrue(a.wait_stderr("c-spawner: fail fails: -1 timeout: child timed out"), a.stderr)

    def test_no_platform_and_unreachable(self):
        a = self.agent(url=False)
        r = self.call(a, {"op": "try"})["result"]["structuredContent"]
        self.assertEqual((r["rc"], r["code"]), (-5, "no-platform"))
        a = self.agent(url="http://127.0.0.1:1/mcp")
        r = self.call(a, {"op": "try"})["result"]["structuredContent"]
        self.assertEqual((r["rc"], r["code"]), (-4, "unreachable"))
        self.assertIn("127.0.0.1:1", r["message"])
        a = self.agent(url="ftp://example/mcp")
        r = self.call(a, {"op": "try"})["result"]["structuredContent"]
        self.assertEqual((r["rc"], r["code"]), (-5, "bad-url"))

    def test_unix_socket(self):
        from test_platform import FakePlatform, UnixHTTPServer, start
        d = tempfile.mkdtemp(prefix="atlas-sock-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "atlasd.sock")
        srv = start(UnixHTTPServer(path, FakePlatform))
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        a = self.agent(url="http+unix://" + path.replace("/", "%2F") + "/mcp")
        r = self.call(a, {"agent": "anything", "input": {"k": 1}})["result"]
        self.assertEqual(r["structuredContent"], {"children": [{"agent": "anything",
                                                                "input": {"k": 1}}]})
        self.assertEqual(srv.seen[0]["path"], "/mcp")

    def test_cancel_while_waiting(self):
        """A cancel of the call that waits closes the request (the platform
        cancels the child) and is answered with -32800 at once."""
        self.httpd.hung.clear()
        self.httpd.release.clear()
        self.httpd.hangups.clear()
        self.addCleanup(self.httpd.release.set)
        a = self.agent()
        a.send({"jsonrpc": "2.0", "id": "w1", "method": "tools/call",
                "params": {"name": "c-spawner", "arguments": {"agent": "hang"},
                           "_meta": self.META}})
        self.assertTrue(self.httpd.hung.wait(30))
        a.notify("notifications/cancelled", {"requestId": "w1", "reason": "test"})
        # the hung child never answers: only the cancel ends the call
        r = a.wait_response("w1", 30)
        self.assertEqual(r["error"]["code"], -32800)
        deadline = time.monotonic() + 30
        while self.httpd.hangups != ["mcp"] and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual(self.httpd.hangups, ["mcp"])
        self.assertTrue(a.wait_stderr("-7 cancelled"), a.stderr)
        # and it keeps serving
        r = self.call(a, {"agent": "z"})["result"]
        self.assertEqual(r["structuredContent"], {"children": [{"agent": "z", "input": {}}]})
