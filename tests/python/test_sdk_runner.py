"""The Python SDK's runner, driven over stdio like atlasd drives it:
handshakes of both revisions, tools/list, tools/call, validation, errors,
cancellation, lifecycle hooks, stdout hygiene."""

import json
import os
import shutil
import signal
import tempfile
import textwrap
import time
import unittest

from mcpdriver import ENVELOPE, EXAMPLES, LEGACY, MODERN, PV, PYTHON, Agent

from atlas import miniyaml


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


ECHO_YAML = """\
agent:
  name: "{name}"
  version: "2.0.0"
  description: "test agent"
  input:
    schema:
      type: object
      properties:
        n:
          type: integer
          default: 7
        s:
          type: string
          maxLength: 5
  output:
    schema:
      type: object
      properties:
        n:
          type: integer
      required: [n]
"""


class TempAgent:
    """An agent directory made on the fly: agent.py + agent.yaml."""

    def __init__(self, code, yaml=None, name="t"):
        self.root = tempfile.mkdtemp(prefix="atlas-sdk-")
        self.dir = os.path.join(self.root, name)
        os.mkdir(self.dir)
        with open(os.path.join(self.dir, "agent.py"), "w") as f:
            f.write(textwrap.dedent(code))
        with open(os.path.join(self.dir, "agent.yaml"), "w") as f:
            f.write(yaml if yaml is not None else ECHO_YAML.format(name=name))

    def start(self, **kw):
        return Agent(self.dir, **kw)

    def path(self, name):
        return os.path.join(self.dir, name)

    def cleanup(self):
        shutil.rmtree(self.root, ignore_errors=True)


ECHO = """
from atlas import AgentBase, AgentContext

class Echo(AgentBase):
    async def execute(self, input: dict, context: AgentContext) -> dict:
        return input
"""


class RunnerTest(unittest.TestCase):
    def temp(self, code, yaml=None, name="t"):
        t = TempAgent(code, yaml, name)
        self.addCleanup(t.cleanup)
        return t

    def agent(self, d, **kw):
        a = Agent(d, **kw)
        self.addCleanup(a.kill)
        return a

    # -- handshakes -------------------------------------------------------
    def test_discover_announces_both_revisions(self):
        a = self.agent(os.path.join(EXAMPLES, "summarizer"))
        r = a.discover()["result"]
        self.assertEqual(r["supportedVersions"], [MODERN, LEGACY])
        self.assertEqual(r["resultType"], "complete")
        self.assertEqual(r["serverInfo"], {"name": "summarizer", "version": "1.2.0"})
        self.assertIn("tools", r["capabilities"])
        self.assertEqual(a.close(), 0)

    def test_initialize_echoes_supported_versions(self):
        a = self.agent(os.path.join(EXAMPLES, "summarizer"))
        for v in ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"):
            r = a.initialize(v)["result"]
            self.assertEqual(r["protocolVersion"], v)
            self.assertEqual(r["serverInfo"]["name"], "summarizer")
            self.assertIn("tools", r["capabilities"])
        # A version it does not speak gets the newest one it does.
        self.assertEqual(a.initialize("2099-01-01")["result"]["protocolVersion"], LEGACY)
        self.assertEqual(a.initialize("2026-07-28")["result"]["protocolVersion"], LEGACY)

    def test_legacy_session_without_initialize_still_served(self):
        a = self.agent(os.path.join(EXAMPLES, "summarizer"))
        a.modern = False
        self.assertEqual(a.request("ping")["result"], {})
        self.assertEqual(len(a.tools()), 1)

    def test_modern_unsupported_version(self):
        a = self.agent(os.path.join(EXAMPLES, "summarizer"))
        r = a.request("tools/list", {"_meta": {PV: "2030-01-01"}})
        self.assertEqual(r["error"]["code"], -32022)
        self.assertEqual(r["error"]["data"], {"supported": [MODERN], "requested": "2030-01-01"})

    def test_handshake_then_every_request_modern(self):
        a = self.agent(os.path.join(EXAMPLES, "summarizer"))
        self.assertEqual(a.handshake(), MODERN)
        r = a.request("tools/list")
        self.assertEqual(r["result"]["resultType"], "complete")
        r = a.call({"text": "One. Two."})
        self.assertEqual(r["result"]["resultType"], "complete")
        self.assertEqual(a.request("ping")["result"], {"resultType": "complete"})

    # -- tools/list ---------------------------------------------------------
    def test_tools_list_matches_contract(self):
        d = os.path.join(EXAMPLES, "summarizer")
        contract = miniyaml.load(os.path.join(d, "agent.yaml"))["agent"]
        for modern in (True, False):
            with self.subTest(modern=modern):
                a = self.agent(d)
                if modern:
                    a.handshake()
                else:
                    a.initialize()
                    a.modern = False
                tools = a.tools()
                self.assertEqual(len(tools), 1)
                t = tools[0]
                self.assertEqual(t["name"], "summarizer")
                self.assertEqual(t["description"], contract["description"])
                self.assertEqual(t["inputSchema"], contract["input"]["schema"])
                self.assertEqual(t["outputSchema"], contract["output"]["schema"])

    def test_tools_list_without_contract_schemas(self):
        t = self.temp(ECHO, yaml='agent:\n  name: "bare"\n  version: "1.0.0"\n', name="bare")
        a = self.agent(t.dir)
        tool = a.tools()[0]
        self.assertEqual(tool, {"name": "bare", "inputSchema": {"type": "object"}})

    def test_contract_from_env_and_name_override(self):
        t = self.temp(ECHO)
        cpath = t.path("contract.json")
        with open(cpath, "w") as f:
            json.dump({"name": "from-json", "version": "9.9.9",
                       "input": {"schema": {"type": "object", "required": ["z"]}}}, f)
        a = self.agent(t.dir, env={"ATLAS_CONTRACT": cpath})
        r = a.discover()["result"]
        self.assertEqual(r["serverInfo"], {"name": "from-json", "version": "9.9.9"})
        a.modern = True
        self.assertEqual(a.tools()[0]["inputSchema"]["required"], ["z"])
        b = self.agent(t.dir, env={"ATLAS_CONTRACT": cpath, "ATLAS_AGENT_NAME": "renamed"})
        b.handshake()
        self.assertEqual(b.tools()[0]["name"], "renamed")
        self.assertFalse(b.call({"z": 1}, name="renamed")["result"].get("isError"))

    # -- tools/call ----------------------------------------------------------
    def test_summarizer_respects_max_length(self):
        a = self.agent(os.path.join(EXAMPLES, "summarizer"))
        a.handshake()
        text = " ".join(f"Sentence number {i} talks about agents and runtimes and pools."
                        for i in range(50))
        for max_length in (1, 5, 12, 40, 200):
            r = a.call({"text": text, "max_length": max_length})["result"]
            out = r["structuredContent"]
            self.assertLessEqual(out["token_count"], max_length)
            self.assertEqual(out["token_count"], len(out["summary"].split()))
            self.assertGreater(out["token_count"], 0)
            self.assertEqual(json.loads(r["content"][0]["text"]), out)

    def test_defaults_applied_and_output_returned(self):
        t = self.temp(ECHO)
        a = self.agent(t.dir)
        a.handshake()
        r = a.call({})["result"]
        self.assertEqual(r["structuredContent"], {"n": 7})
        self.assertNotIn("isError", r)

    def test_input_validation_failure(self):
        t = self.temp(ECHO)
        a = self.agent(t.dir)
        a.handshake()
        r = a.call({"n": "x"})["result"]
        self.assertTrue(r["isError"])
        self.assertIn("/n", r["content"][0]["text"])
        self.assertIn("input", r["content"][0]["text"])
        r = a.call({"n": 1, "s": "toolong"})["result"]
        self.assertTrue(r["isError"])
        self.assertIn("/s", r["content"][0]["text"])
        # The process keeps serving.
        self.assertEqual(a.call({"n": 2})["result"]["structuredContent"], {"n": 2})

    def test_output_validation_failure(self):
        t = self.temp("""
            from atlas import AgentBase
            class Bad(AgentBase):
                async def execute(self, input, context):
                    return {"n": "not an int"} if input["n"] == 1 else {"m": 1}
        """)
        a = self.agent(t.dir)
        a.handshake()
        r = a.call({"n": 1})["result"]
        self.assertTrue(r["isError"])
        self.assertIn("output does not match the output schema: /n", r["content"][0]["text"])
        r = a.call({"n": 2})["result"]
        self.assertIn("/n: is required", r["content"][0]["text"])

    def test_exception_becomes_is_error_and_process_survives(self):
        t = self.temp("""
            from atlas import AgentBase
            class Boom(AgentBase):
                async def execute(self, input, context):
                    if input["n"] == 0:
                        raise KeyError("missing thing")
                    if input["n"] == 1:
                        raise RuntimeError("it broke: details")
                    return input
        """)
        a = self.agent(t.dir)
        a.handshake()
        r = a.call({"n": 1})["result"]
        self.assertEqual(r["isError"], True)
        self.assertEqual(r["content"][0]["text"], "it broke: details")
        self.assertNotIn("structuredContent", r)
        r = a.call({"n": 0})["result"]
        self.assertTrue(r["isError"])
        self.assertIn("missing thing", r["content"][0]["text"])
        self.assertEqual(a.call({"n": 5})["result"]["structuredContent"], {"n": 5})
        self.assertTrue(a.wait_stderr("RuntimeError: it broke"), a.stderr)
        self.assertEqual(a.close(), 0)

    def test_execute_returning_none_or_non_json(self):
        t = self.temp("""
            from atlas import AgentBase
            class Odd(AgentBase):
                async def execute(self, input, context):
                    return None if input["n"] == 0 else {"n": 1, "x": {1, 2}}
        """)
        a = self.agent(t.dir)
        a.handshake()
        self.assertIn("returned None", a.call({"n": 0})["result"]["content"][0]["text"])
        self.assertIn("not JSON", a.call({"n": 1})["result"]["content"][0]["text"])

    def test_sync_execute_and_hooks(self):
        t = self.temp("""
            from atlas import AgentBase
            class Sync(AgentBase):
                def on_startup(self):
                    self.k = 3
                def execute(self, input, context):
                    return {"n": input["n"] * self.k}
        """)
        a = self.agent(t.dir)
        a.handshake()
        self.assertEqual(a.call({"n": 2})["result"]["structuredContent"], {"n": 6})

    def test_unknown_tool_and_bad_arguments(self):
        t = self.temp(ECHO)
        a = self.agent(t.dir)
        a.handshake()
        r = a.call({}, name="other")
        self.assertEqual(r["error"]["code"], -32602)
        r = a.request("tools/call", {"name": "t", "arguments": [1]})
        self.assertEqual(r["error"]["code"], -32602)

    def test_usage_is_reported_in_meta(self):
        t = self.temp("""
            from atlas import AgentBase
            class U(AgentBase):
                async def execute(self, input, context):
                    if input["n"]:
                        context.report_usage(10, 20, model="m1")
                        context.report_usage(1, 2)
                    return input
        """)
        a = self.agent(t.dir)
        a.handshake()
        r = a.call({"n": 1})["result"]
        self.assertEqual(r["_meta"]["io.atlas/usage"],
                         {"tokens_in": 11, "tokens_out": 22, "model": "m1"})
        # Usage is per call, not per process.
        self.assertNotIn("_meta", a.call({"n": 0})["result"])

    def test_context_fields_log_and_progress(self):
        t = self.temp("""
            import os
            from atlas import AgentBase
            class C(AgentBase):
                async def execute(self, input, context):
                    context.log("hello log")
                    context.log({"structured": True}, level="warning")
                    context.progress(1, 4, "a quarter")
                    context.progress(2)
                    return {"n": 1, "job": context.job_id, "token": context.token,
                            "rid": context.request_id, "pv": context.protocol_version}
        """, yaml='agent:\n  name: "t"\n  version: "1"\n')
        a = self.agent(t.dir, env={"ATLAS_TOKEN": "process-token"})
        a.handshake()
        meta = {"progressToken": "job_1", "io.atlas/jobId": "job_1", "io.atlas/token": "job-token"}
        r = a.call({}, meta=meta)
        out = r["result"]["structuredContent"]
        self.assertEqual(out["job"], "job_1")
        self.assertEqual(out["token"], "job-token")
        self.assertEqual(out["rid"], r["id"])
        self.assertEqual(out["pv"], MODERN)
        logs = [n["params"] for n in a.notifications if n["method"] == "notifications/message"]
        self.assertEqual(logs[0], {"level": "info", "logger": "t", "data": "hello log"})
        self.assertEqual(logs[1]["data"], {"structured": True})
        self.assertEqual(logs[1]["level"], "warning")
        prog = [n["params"] for n in a.notifications if n["method"] == "notifications/progress"]
        self.assertEqual(prog, [{"progressToken": "job_1", "progress": 1, "total": 4,
                                 "message": "a quarter"},
                                {"progressToken": "job_1", "progress": 2}])
        # No progressToken: no progress notifications; token falls back to the env.
        a.notifications.clear()
        out = a.call({})["result"]["structuredContent"]
        self.assertEqual(out["token"], "process-token")
        self.assertIsNone(out["job"])
        self.assertFalse([n for n in a.notifications if n["method"] == "notifications/progress"])

    def test_elicit_asks_the_runtime_and_waits(self):
        t = self.temp("""
            from atlas import AgentBase
            class C(AgentBase):
                async def execute(self, input, context):
                    a = await context.elicit("your name?", {"type": "object"})
                    try:
                        await context.elicit("again?")
                    except RuntimeError as e:
                        return {"n": 1, "answer": a, "refused": str(e)}
                    return {"n": 0}
        """, yaml='agent:\n  name: "t"\n  version: "1"\n')
        a = self.agent(t.dir)
        a.handshake()
        rid = a.next_id()
        a.send({"jsonrpc": "2.0", "id": rid, "method": "tools/call",
                "params": {"name": "t", "arguments": {}, "_meta": dict(ENVELOPE)}})
        ask = a.recv()
        self.assertEqual(ask["method"], "elicitation/create")
        self.assertEqual(ask["params"]["message"], "your name?")
        self.assertEqual(ask["params"]["requestedSchema"], {"type": "object"})
        a.send({"jsonrpc": "2.0", "id": ask["id"],
                "result": {"action": "accept", "content": {"name": "bob"}}})
        again = a.recv()
        self.assertEqual(again["method"], "elicitation/create")
        self.assertNotEqual(again["id"], ask["id"])
        a.send({"jsonrpc": "2.0", "id": again["id"],
                "error": {"code": -32601, "message": "Method not found"}})
        out = a.wait_response(rid)["result"]["structuredContent"]
        self.assertEqual(out["answer"], {"action": "accept", "content": {"name": "bob"}})
        self.assertIn("Method not found", out["refused"])

    def test_logging_set_level_filters(self):
        t = self.temp("""
            from atlas import AgentBase
            class C(AgentBase):
                async def execute(self, input, context):
                    context.log("dropped", level="debug")
                    context.log("kept", level="error")
                    return {}
        """, yaml='agent:\n  name: "t"\n')
        a = self.agent(t.dir)
        a.initialize()
        a.modern = False
        self.assertEqual(a.request("logging/setLevel", {"level": "warning"})["result"], {})
        a.call({})
        self.assertEqual([n["params"]["data"] for n in a.notifications], ["kept"])
        self.assertEqual(a.request("logging/setLevel", {"level": "loud"})["error"]["code"],
                         -32602)

    # -- cancellation ----------------------------------------------------------
    def test_cancel_running_call(self):
        t = self.temp("""
            import asyncio, sys
            from atlas import AgentBase
            class Slow(AgentBase):
                async def execute(self, input, context):
                    print("executing", input["n"], file=sys.stderr, flush=True)
                    try:
                        await asyncio.sleep(30 if input["n"] == 7 else 0)
                    except asyncio.CancelledError:
                        print("saw the cancel", file=sys.stderr, flush=True)
                        raise
                    return input
        """)
        a = self.agent(t.dir)
        a.handshake()
        rid = a.next_id()
        a.send({"jsonrpc": "2.0", "id": rid, "method": "tools/call",
                "params": {"name": "t", "arguments": {}, "_meta": {PV: MODERN,
                           "io.modelcontextprotocol/clientCapabilities": {}}}})
        self.assertTrue(a.wait_stderr("executing 7"), a.stderr)
        a.notify("notifications/cancelled", {"requestId": rid, "reason": "test"})
        r = a.wait_response(rid, timeout=20)  # within the 30 s sleep: the cancel ended it
        self.assertEqual(r["error"]["code"], -32800)
        # Cancelling something unknown is harmless; the process still serves.
        a.notify("notifications/cancelled", {"requestId": 999})
        self.assertEqual(a.call({"n": 1})["result"]["structuredContent"], {"n": 1})
        self.assertTrue(a.wait_stderr("saw the cancel"), a.stderr)

    # -- lifecycle ---------------------------------------------------------------
    LIFECYCLE = """
        import asyncio, os
        from atlas import AgentBase
        def mark(what):
            with open(os.path.join(os.path.dirname(__file__), "events"), "a") as f:
                f.write(what + "\\n")
        class L(AgentBase):
            async def on_startup(self):
                await asyncio.sleep(0.5)
                mark("startup")
            async def execute(self, input, context):
                mark("execute")
                return input
            async def on_shutdown(self):
                mark("shutdown")
    """

    def events(self, t):
        try:
            with open(t.path("events")) as f:
                return f.read().split()
        except FileNotFoundError:
            return []

    def test_startup_before_first_answer_shutdown_on_eof(self):
        t = self.temp(self.LIFECYCLE)
        a = self.agent(t.dir)
        a.discover()
        self.assertEqual(self.events(t), ["startup"])
        a.modern = True
        a.call({"n": 1})
        self.assertEqual(a.close(), 0)
        self.assertEqual(self.events(t), ["startup", "execute", "shutdown"])

    def test_shutdown_on_sigterm(self):
        t = self.temp(self.LIFECYCLE)
        a = self.agent(t.dir)
        a.discover()
        a.proc.send_signal(signal.SIGTERM)
        self.assertEqual(a.proc.wait(5), 0)
        self.assertEqual(self.events(t), ["startup", "shutdown"])

    def test_lifecycle_names_from_contract(self):
        t = self.temp("""
            import os
            from atlas import AgentBase
            class L(AgentBase):
                def warm(self):
                    self.ready = True
                def cool(self):
                    print("cooled", flush=True)
                async def execute(self, input, context):
                    return {"ready": self.ready}
        """, yaml='agent:\n  name: "t"\n  lifecycle:\n    startup: "warm"\n'
                  '    shutdown: "cool"\n')
        a = self.agent(t.dir)
        a.handshake()
        self.assertEqual(a.call({})["result"]["structuredContent"], {"ready": True})
        self.assertEqual(a.close(), 0)
        self.assertTrue(a.wait_stderr("cooled"), a.stderr)

    def test_startup_failure_exits_without_answering(self):
        t = self.temp("""
            from atlas import AgentBase
            class L(AgentBase):
                async def on_startup(self):
                    raise RuntimeError("no model here")
                async def execute(self, input, context):
                    return input
        """)
        a = self.agent(t.dir)
        a.send({"jsonrpc": "2.0", "id": 1, "method": "ping"})
        self.assertIsNone(a.recv(10))
        self.assertEqual(a.proc.wait(5), 1)
        self.assertTrue(a.wait_stderr("no model here"), a.stderr)

    def test_eof_cancels_a_running_call(self):
        t = self.temp("""
            import asyncio
            from atlas import AgentBase
            class L(AgentBase):
                async def execute(self, input, context):
                    print("executing", flush=True)
                    await asyncio.sleep(60)
                async def on_shutdown(self):
                    print("shut down", flush=True)
        """)
        a = self.agent(t.dir)
        a.handshake()
        a.send({"jsonrpc": "2.0", "id": 50, "method": "tools/call",
                "params": {"name": "t", "arguments": {}}})
        self.assertTrue(a.wait_stderr("executing"), a.stderr)
        t0 = time.monotonic()
        self.assertEqual(a.close(), 0)
        # 1.5 s to finish on its own, then cancelled: well before the runtime's
        # 5 s shutdown timeout (the bound leaves slack for a loaded machine).
        self.assertLess(time.monotonic() - t0, 7)
        self.assertTrue(a.wait_stderr("shut down"), a.stderr)

    def test_eof_lets_running_calls_answer(self):
        # A client may write its requests and close its end at once.
        t = self.temp(ECHO)
        a = self.agent(t.dir)
        msgs = [{"jsonrpc": "2.0", "id": 1, "method": "initialize",
                 "params": {"protocolVersion": LEGACY, "capabilities": {},
                            "clientInfo": {"name": "x", "version": "1"}}},
                {"jsonrpc": "2.0", "method": "notifications/initialized"},
                {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                 "params": {"name": "t", "arguments": {"n": 4}}}]
        a.send_raw(b"".join(json.dumps(m).encode() + b"\n" for m in msgs))
        self.assertEqual(a.close(), 0)
        self.assertEqual(a.recv()["id"], 1)
        self.assertEqual(a.recv()["result"]["structuredContent"], {"n": 4})

    # -- stdout hygiene ----------------------------------------------------------
    def test_stdout_carries_only_json_rpc(self):
        t = self.temp("""
            import os, subprocess, sys
            from atlas import AgentBase
            print("noise at import")
            class Noisy(AgentBase):
                async def on_startup(self):
                    print("noise in on_startup")
                    sys.stdout.write("more noise\\n")
                async def execute(self, input, context):
                    print("noise in execute")
                    os.write(1, b"raw fd 1 noise\\n")
                    subprocess.run(["echo", "child noise"])
                    sys.__stdout__.write("dunder noise\\n")
                    sys.__stdout__.flush()
                    input()  # stdin is /dev/null for user code: EOFError
                    return {}
        """, yaml='agent:\n  name: "t"\n')
        a = self.agent(t.dir)
        a.handshake()
        r = a.call({})["result"]
        self.assertTrue(r["isError"])  # input() raised EOFError, and nothing hung
        a.close()
        rest = []
        while True:
            line = a.recv_raw(5)
            if line is None:
                break
            rest.append(line)
        for line in rest:
            json.loads(line)
        for s in ("noise at import", "noise in on_startup", "more noise", "noise in execute",
                  "raw fd 1 noise", "child noise", "dunder noise"):
            self.assertTrue(a.wait_stderr(s), a.stderr)

    # -- framing and errors ------------------------------------------------------
    def test_malformed_input(self):
        t = self.temp(ECHO)
        a = self.agent(t.dir)
        a.send_raw(b"this is not json\n")
        r = a.recv()
        self.assertEqual((r["id"], r["error"]["code"]), (None, -32700))
        a.send_raw(b"[1, 2]\n")
        self.assertEqual(a.recv()["error"]["code"], -32600)
        a.send_raw(b'{"id": 3, "method": "ping"}\n')
        r = a.recv()
        self.assertEqual((r["id"], r["error"]["code"]), (3, -32600))
        a.send_raw(b'{"jsonrpc": "2.0", "id": true, "method": "ping"}\n')
        self.assertEqual(a.recv()["error"]["code"], -32600)
        a.send_raw(b'{"jsonrpc": "2.0", "id": 4, "method": "ping", "params": [1]}\n')
        self.assertEqual(a.recv()["error"]["code"], -32602)
        a.send_raw(b'{"jsonrpc": "2.0", "id": 5, "method": "resources/list"}\n')
        self.assertEqual(a.recv()["error"]["code"], -32601)
        a.send_raw(b"\n   \n")  # blank lines are skipped
        a.send_raw(b'{"jsonrpc": "2.0", "method": "notifications/whatever"}\n')
        a.send_raw(b'{"jsonrpc": "2.0", "id": 77, "result": {}}\n')  # a stray response
        a.send_raw('{"jsonrpc": "2.0", "id": "é", "method": "ping"}\n'.encode())
        self.assertEqual(a.recv(), {"jsonrpc": "2.0", "id": "é", "result": {}})

    def test_oversized_line_is_skipped(self):
        t = self.temp(ECHO)
        a = self.agent(t.dir, env={"ATLAS_MAX_LINE_BYTES": "1000"})
        a.send_raw(b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"' + b"y" * 5000
                   + b'"}}\n')
        r = a.recv()
        self.assertEqual((r["id"], r["error"]["code"]), (None, -32700))
        self.assertEqual(a.request("ping", envelope=False)["result"], {})

    def test_duplicate_in_flight_id(self):
        t = self.temp("""
            import asyncio
            from atlas import AgentBase
            class S(AgentBase):
                async def execute(self, input, context):
                    await asyncio.sleep(0.5)
                    return input
        """)
        a = self.agent(t.dir)
        a.handshake()
        msg = {"jsonrpc": "2.0", "id": 9, "method": "tools/call",
               "params": {"name": "t", "arguments": {"n": 1}}}
        a.send(msg)
        a.send(msg)
        first = a.recv()
        self.assertEqual(first["error"]["code"], -32600)
        self.assertEqual(a.recv()["result"]["structuredContent"], {"n": 1})

    # -- loading -----------------------------------------------------------------
    def test_spec_example_as_printed(self):
        # The spec's ResearchAgent/SummarizerAgent import only AgentBase and
        # still annotate with AgentContext; this must load.
        t = self.temp('''
            from atlas import AgentBase  # Thin base class, not a framework
            class SummarizerAgent(AgentBase):
                async def execute(self, input: dict, context: AgentContext) -> dict:
                    text = input["text"]
                    max_length = input.get("max_length", 200)
                    summary = await self.summarize(text, max_length)
                    return {
                        "summary": summary,
                        "token_count": len(summary.split())
                    }
                async def on_startup(self):
                    pass
                async def on_shutdown(self):
                    pass
        ''', yaml=read(os.path.join(EXAMPLES, "summarizer", "agent.yaml")), name="summarizer")
        a = self.agent(t.dir)
        a.handshake()
        r = a.call({"text": "x"})["result"]
        # The printed example leaves summarize() to the reader.
        self.assertTrue(r["isError"])
        self.assertIn("summarize", r["content"][0]["text"])

    def test_load_errors(self):
        cases = [
            ("x = 1\n", "no subclass of atlas.AgentBase"),
            ("from atlas import AgentBase\nclass A(AgentBase): pass\nclass B(AgentBase): pass\n",
             "several AgentBase subclasses"),
            ("raise ImportError('no such lib')\n", "no such lib"),
        ]
        for code, msg in cases:
            with self.subTest(msg=msg):
                t = self.temp(code)
                a = self.agent(t.dir)
                self.assertEqual(a.proc.wait(10), 2)
                self.assertTrue(a.wait_stderr(msg), a.stderr)
        t = self.temp(ECHO, yaml="agent:\n  name: [unclosed\n")
        a = self.agent(t.dir, argv=[PYTHON, "-m", "atlas.runner", "agent.py"])
        self.assertEqual(a.proc.wait(10), 2)
        self.assertRegex(a.stderr, r"agent\.yaml:2:\d+: ")

    def test_derived_agent_class_is_chosen(self):
        t = self.temp("""
            from atlas import AgentBase
            class Base(AgentBase):
                k = 1
            class Leaf(Base):
                async def execute(self, input, context):
                    return {"n": self.k}
        """)
        a = self.agent(t.dir)
        a.handshake()
        self.assertEqual(a.call({})["result"]["structuredContent"], {"n": 1})

    def test_script_entrypoint_with_atlas_run(self):
        t = self.temp("""
            import atlas
            from atlas import AgentBase
            class Echo(AgentBase):
                async def execute(self, input, context):
                    print("to stderr")
                    return input
            if __name__ == "__main__":
                atlas.run()
        """, yaml=ECHO_YAML.format(name="t") + '  entrypoint: ["python3", "agent.py"]\n')
        a = self.agent(t.dir)
        self.assertEqual(a.argv[1:], ["agent.py"])
        a.handshake()
        self.assertEqual(a.call({"n": 3})["result"]["structuredContent"], {"n": 3})
        self.assertEqual(a.close(), 0)
        self.assertTrue(a.wait_stderr("to stderr"), a.stderr)

    def test_runner_usage(self):
        import subprocess
        from mcpdriver import base_env
        p = subprocess.run([PYTHON, "-m", "atlas.runner", "a.py", "b.py"], env=base_env(),
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"usage", p.stderr)
        self.assertEqual(p.stdout, b"")


if __name__ == "__main__":
    unittest.main()
