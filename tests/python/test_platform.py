"""AgentContext.spawn / skill / call_tool / llm against a fake platform: a
local HTTP server that plays atlasd's MCP endpoint (Streamable HTTP,
2026-07-28) and the OpenAI-compatible model gateway."""

import asyncio
import json
import os
import shutil
import socketserver
import tempfile
import textwrap
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock

from mcpdriver import Agent

from atlas import AgentContext, AtlasError

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class FakePlatform(BaseHTTPRequestHandler):
    """Answers like atlasd would; records every request in server.seen."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def address_string(self):  # Unix sockets have no peer address
        return "local"

    def reply(self, status, body, ctype="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(n))
        # Header names are case-insensitive: keep them lower-cased.
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.seen.append({"path": self.path, "headers": headers, "body": body})
        if self.path.endswith("/chat/completions"):
            return self.chat(body)
        if self.headers.get("Authorization") != "Bearer job-token":
            return self.reply(401, {"type": "about:blank", "title": "Unauthorized",
                                    "status": 401, "detail": "bad token"},
                              "application/problem+json")
        rid = body["id"]
        name = body["params"]["name"]
        args = body["params"]["arguments"]

        def result(res):
            return {"jsonrpc": "2.0", "id": rid, "result": res}

        if name == "atlas.skills.invoke":
            out = {"skill": args["skill"], "echo": args["input"]}
            return self.reply(200, result({"structuredContent": out,
                                           "content": [{"type": "text",
                                                        "text": json.dumps(out)}]}))
        if name == "atlas.registry.list":
            return self.reply(200, result({"content": [{"type": "text",
                                                        "text": '{"agents": ["a"]}'}]}))
        agent = args.get("agent")
        if agent == "web-searcher":
            out = {"needs_deeper_analysis": True, "raw_data": [1, 2, 3]}
        elif agent == "shallow":
            out = {"needs_deeper_analysis": False, "raw_data": []}
        elif agent == "deep-analyzer":
            out = {"analysis": f"analysed {len(args['input']['data'])} items"}
        elif agent == "fails":
            return self.reply(200, result({"isError": True,
                                           "structuredContent": {"code": "timeout",
                                                                 "message": "child timed out"},
                                           "content": [{"type": "text",
                                                        "text": "child timed out"}]}))
        elif agent == "fails-plain":
            return self.reply(200, result({"isError": True, "content": [
                {"type": "text", "text": "no such agent"}]}))
        elif agent == "rpc-error":
            return self.reply(200, {"jsonrpc": "2.0", "id": rid,
                                    "error": {"code": -32602, "message": "bad arguments",
                                              "data": {"pointer": "/agent"}}})
        elif agent == "sse":
            events = [
                {"jsonrpc": "2.0", "method": "notifications/progress",
                 "params": {"progressToken": "x", "progress": 1}},
                result({"structuredContent": {"via": "sse"}, "content": []}),
            ]
            stream = "".join(f"event: message\ndata: {json.dumps(e)}\n\n" for e in events)
            return self.reply(200, stream.encode(), "text/event-stream")
        else:
            out = {"agent": agent, "input": args.get("input")}
        self.reply(200, result({"structuredContent": out,
                                "content": [{"type": "text", "text": json.dumps(out)}]}))

    def chat(self, body):
        if body.get("model") == "missing":
            return self.reply(404, {"error": {"message": "model not found",
                                              "type": "invalid_request_error",
                                              "code": "model_not_found"}})
        text = "echo: " + body["messages"][-1]["content"]
        self.reply(200, {"id": "chatcmpl-1", "object": "chat.completion", "model": body["model"],
                         "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": text}}],
                         "usage": {"prompt_tokens": 5, "completion_tokens": 3,
                                   "total_tokens": 8}})


class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def start(server):
    server.seen = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class PlatformTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.httpd = start(ThreadingHTTPServer(("127.0.0.1", 0), FakePlatform))
        cls.base = f"http://127.0.0.1:{cls.httpd.server_address[1]}"

    @classmethod
    def tearDownClass(cls):
        cls.httpd.shutdown()
        cls.httpd.server_close()

    def setUp(self):
        self.httpd.seen.clear()
        env = {"ATLAS_MCP_URL": self.base + "/mcp", "OPENAI_BASE_URL": self.base + "/v1",
               "OPENAI_API_KEY": "gateway-key", "ATLAS_TOKEN": "process-token"}
        patcher = mock.patch.dict(os.environ, env)
        patcher.start()
        self.addCleanup(patcher.stop)

    def ctx(self, **kw):
        meta = {"io.atlas/token": "job-token", "io.atlas/jobId": "job_parent",
                "traceparent": TRACEPARENT, "progressToken": "job_parent"}
        return AgentContext(request_id=1, meta=meta, agent_name="parent",
                            contract={"model": {"preference": "fast"}}, **kw)

    def run_async(self, coro):
        return asyncio.run(coro)

    def test_spawn_request_shape(self):
        out = self.run_async(self.ctx().spawn("web-searcher", {"query": "q"}))
        self.assertEqual(out, {"needs_deeper_analysis": True, "raw_data": [1, 2, 3]})
        req = self.httpd.seen[0]
        self.assertEqual(req["path"], "/mcp")
        h = req["headers"]
        self.assertEqual(h["authorization"], "Bearer job-token")
        self.assertEqual(h["mcp-protocol-version"], "2026-07-28")
        self.assertEqual(h["mcp-method"], "tools/call")
        self.assertEqual(h["mcp-name"], "atlas.exec.spawn")
        self.assertIn("text/event-stream", h["accept"])
        self.assertEqual(h["content-type"], "application/json")
        body = req["body"]
        self.assertEqual(body["jsonrpc"], "2.0")
        self.assertEqual(body["method"], "tools/call")
        p = body["params"]
        self.assertEqual(p["name"], "atlas.exec.spawn")
        self.assertEqual(p["arguments"], {"agent": "web-searcher", "input": {"query": "q"}})
        meta = p["_meta"]
        self.assertEqual(meta["io.modelcontextprotocol/protocolVersion"], "2026-07-28")
        self.assertEqual(meta["io.modelcontextprotocol/clientCapabilities"], {})
        self.assertEqual(meta["io.modelcontextprotocol/clientInfo"]["name"], "atlas-sdk-python")
        self.assertEqual(meta["traceparent"], TRACEPARENT)
        self.assertEqual(meta["io.atlas/jobId"], "job_parent")
        self.assertNotIn("io.atlas/token", meta)  # the token travels in the header only

    def test_skill_and_call_tool(self):
        out = self.run_async(self.ctx().skill("web-search", {"q": "atlas"}))
        self.assertEqual(out, {"skill": "web-search", "echo": {"q": "atlas"}})
        body = self.httpd.seen[0]["body"]["params"]
        self.assertEqual(body["name"], "atlas.skills.invoke")
        self.assertEqual(body["arguments"], {"skill": "web-search", "input": {"q": "atlas"}})
        # A result with only text content is parsed as JSON.
        self.assertEqual(self.run_async(self.ctx().call_tool("atlas.registry.list", {})),
                         {"agents": ["a"]})

    def test_sse_response(self):
        self.assertEqual(self.run_async(self.ctx().spawn("sse", {})), {"via": "sse"})

    def test_errors(self):
        ctx = self.ctx()
        with self.assertRaises(AtlasError) as cm:
            self.run_async(ctx.spawn("fails", {}))
        self.assertEqual((cm.exception.code, cm.exception.message), ("timeout", "child timed out"))
        with self.assertRaises(AtlasError) as cm:
            self.run_async(ctx.spawn("fails-plain", {}))
        self.assertEqual((cm.exception.code, cm.exception.message),
                         ("tool-error", "no such agent"))
        with self.assertRaises(AtlasError) as cm:
            self.run_async(ctx.spawn("rpc-error", {}))
        self.assertEqual(cm.exception.code, -32602)
        self.assertEqual(cm.exception.data, {"pointer": "/agent"})
        # Without the job token in _meta the process token is used: refused.
        bare = AgentContext(request_id=2, meta={})
        self.assertEqual(bare.token, "process-token")
        with self.assertRaises(AtlasError) as cm:
            self.run_async(bare.spawn("x", {}))
        self.assertEqual((cm.exception.code, cm.exception.message), ("about:blank", "bad token"))

    def test_unreachable_and_unconfigured(self):
        with mock.patch.dict(os.environ, {"ATLAS_MCP_URL": "http://127.0.0.1:1/mcp"}):
            with self.assertRaises(AtlasError) as cm:
                self.run_async(self.ctx().spawn("x", {}))
            self.assertEqual(cm.exception.code, "unreachable")
        with mock.patch.dict(os.environ, {}, clear=True):
            with self.assertRaises(AtlasError) as cm:
                self.run_async(self.ctx().spawn("x", {}))
            self.assertEqual(cm.exception.code, "no-platform")
            with self.assertRaises(AtlasError):
                self.run_async(self.ctx().llm("hi"))

    def test_llm(self):
        resp = self.run_async(self.ctx().llm("hello", temperature=0.2))
        self.assertEqual(resp["choices"][0]["message"]["content"], "echo: hello")
        req = self.httpd.seen[0]
        self.assertEqual(req["path"], "/v1/chat/completions")
        self.assertEqual(req["headers"]["authorization"], "Bearer gateway-key")
        self.assertEqual(req["body"], {"model": "fast", "temperature": 0.2,
                                       "messages": [{"role": "user", "content": "hello"}]})
        msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
        resp = self.run_async(self.ctx().llm(msgs, model="gpt-x", max_tokens=5))
        self.assertEqual(self.httpd.seen[1]["body"]["model"], "gpt-x")
        self.assertEqual(self.httpd.seen[1]["body"]["messages"], msgs)
        with self.assertRaises(AtlasError) as cm:
            self.run_async(self.ctx().llm("x", model="missing"))
        self.assertEqual((cm.exception.code, cm.exception.message),
                         ("model_not_found", "model not found"))
        with self.assertRaises(ValueError):
            self.run_async(self.ctx().llm("x", stream=True))

    def test_unix_socket_url(self):
        d = tempfile.mkdtemp(prefix="atlas-sock-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "atlasd.sock")
        srv = start(UnixHTTPServer(path, FakePlatform))
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        url = "http+unix://" + path.replace("/", "%2F") + "/mcp"
        with mock.patch.dict(os.environ, {"ATLAS_MCP_URL": url}):
            out = self.run_async(self.ctx().spawn("anything", {"k": 1}))
        self.assertEqual(out, {"agent": "anything", "input": {"k": 1}})
        self.assertEqual(srv.seen[0]["path"], "/mcp")

    def test_research_agent_from_the_spec_end_to_end(self):
        """The spec's ResearchAgent, as printed, spawning through the platform."""
        d = tempfile.mkdtemp(prefix="atlas-research-")
        self.addCleanup(shutil.rmtree, d, True)
        agent_dir = os.path.join(d, "research")
        os.mkdir(agent_dir)
        with open(os.path.join(agent_dir, "agent.py"), "w") as f:
            f.write(textwrap.dedent('''
                from atlas import AgentBase

                class ResearchAgent(AgentBase):
                    async def execute(self, input: dict, context: AgentContext) -> dict:
                        # Spawn sub-agents dynamically
                        search_result = await context.spawn("web-searcher", {
                            "query": input["topic"]
                        })

                        # Conditionally spawn more based on results
                        if search_result["needs_deeper_analysis"]:
                            analysis = await context.spawn("deep-analyzer", {
                                "data": search_result["raw_data"]
                            })
                            return analysis

                        return search_result
            '''))
        with open(os.path.join(agent_dir, "agent.yaml"), "w") as f:
            f.write(textwrap.dedent('''\
                agent:
                  name: "research"
                  version: "1.0.0"
                  description: "Researches a topic by spawning sub-agents"
                  input:
                    schema:
                      type: object
                      properties:
                        topic: {type: string}
                      required: [topic]
                  output:
                    schema:
                      type: object
                  requires:
                    platform_tools: true
                    spawn_agents: true
                    skills: []
            '''))
        a = Agent(agent_dir, env={"ATLAS_MCP_URL": self.base + "/mcp",
                                  "ATLAS_TOKEN": "process-token"})
        self.addCleanup(a.kill)
        a.handshake()
        r = a.call({"topic": "agents"}, meta={"io.atlas/token": "job-token",
                                              "io.atlas/jobId": "job_9"})["result"]
        self.assertEqual(r["structuredContent"], {"analysis": "analysed 3 items"})
        spawned = [s["body"]["params"]["arguments"]["agent"] for s in self.httpd.seen]
        self.assertEqual(spawned, ["web-searcher", "deep-analyzer"])
        self.assertEqual(self.httpd.seen[0]["body"]["params"]["_meta"]["io.atlas/jobId"], "job_9")
        # A failing child surfaces as isError with the platform's code.
        r = a.call({"topic": "x"})["result"]  # no job token: the process token is refused
        self.assertTrue(r["isError"])
        self.assertIn("bad token", r["content"][0]["text"])


if __name__ == "__main__":
    unittest.main()
