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
        elif agent == "text-only":
            return self.reply(200, result({"content": [{"type": "text", "text": "plain words"}]}))
        elif agent == "not-rpc":
            return self.reply(200, {"hello": "there"})
        elif agent == "hang":  # an SSE answer that never comes, until the client hangs up
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.chunk("id: s-0\nretry: 1000\ndata: \n\n")
            self.server.hung.set()
            try:
                while not self.server.release.wait(0.05):
                    self.chunk(": keep-alive\n\n")
            except OSError:
                self.server.hangups.append("mcp")
            self.close_connection = True
            return
        elif agent == "sse":
            events = [
                {"jsonrpc": "2.0", "method": "notifications/progress",
                 "params": {"progressToken": "x", "progress": 1}},
                result({"structuredContent": {"via": "sse"}, "content": []}),
            ]
            stream = "id: p-0\r\nretry: 1000\r\ndata:\r\n\r\n" + "".join(
                f"event: message\r\nid: p-{i + 1}\r\ndata: "
                + json.dumps(e, indent=1).replace("\n", "\r\ndata: ") + "\r\n\r\n"
                for i, e in enumerate(events))
            return self.reply(200, stream.encode(), "text/event-stream")
        else:
            out = {"agent": agent, "input": args.get("input")}
        self.reply(200, result({"structuredContent": out,
                                "content": [{"type": "text", "text": json.dumps(out)}]}))

    def problem(self, status, slug, title, detail, openai_type):
        """An error as atlasd's gateway sends it: an RFC 9457 problem with an
        OpenAI-style error member (src/http/llm_routes.c reply_error)."""
        self.reply(status, {"type": f"urn:atlas:error:{slug}", "title": title, "status": status,
                            "detail": detail,
                            "error": {"message": detail, "type": openai_type, "code": slug}},
                   "application/problem+json")

    def chat(self, body):
        model = body.get("model")
        if model == "missing":
            return self.reply(404, {"error": {"message": "model not found",
                                              "type": "invalid_request_error",
                                              "code": "model_not_found"}})
        if model == "budget":
            return self.problem(429, "limit-exceeded", "limit exceeded",
                                "the chain's token budget execution.resource_budget."
                                "max_tokens_per_chain (150 tokens) would be exceeded",
                                "rate_limit_exceeded")
        if model == "none":
            return self.problem(501, "not-available", "not available in this build",
                                "no model backend is configured (models.backends)",
                                "server_error")
        if model == "foreign-problem":
            return self.reply(400, {"type": "https://example.com/probs/out-of-credit",
                                    "title": "You do not have enough credit.",
                                    "detail": "Your current balance is 30, but that costs 50.",
                                    "balance": 30}, "application/problem+json")
        if model == "plain-500":
            return self.reply(500, b"upstream exploded\n", "text/plain")
        text = "echo: " + body["messages"][-1]["content"]
        if body.get("stream") and model != "ignores-stream":
            return self.chat_stream(body, text)
        doc = {"id": "chatcmpl-1", "object": "chat.completion", "model": model,
               "choices": [{"index": 0, "finish_reason": "stop",
                            "message": {"role": "assistant", "content": text}}],
               "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}}
        headers = {}
        if model in ("fast", "balanced"):  # a tier: answered the way atlasd does
            doc["model"] = "tiny-a"
            doc["atlas"] = {"model": "tiny-a", "backend": "alpha", "tier": model,
                            "reason": f"agent preference {model}", "attempts": [],
                            "queue_ms": 0, "cost_usd": 0.0}
            headers = {"Atlas-Model": "tiny-a", "Atlas-Backend": "alpha", "Atlas-Tier": model}
        elif model == "headers-only":
            headers = {"Atlas-Model": "tiny-h", "Atlas-Backend": "hotel", "Atlas-Tier": "fast"}
        data = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def chunk(self, text):
        """One HTTP/1.1 chunk (the gateway's streams are chunked)."""
        data = text.encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def chat_stream(self, body, text):
        model = body["model"]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        base = {"id": "chatcmpl-s", "object": "chat.completion.chunk", "model": "tiny-s"}

        def event(doc):
            self.chunk("data: " + json.dumps({**base, **doc}) + "\n\n")

        if model == "fails-at-once":  # every candidate failed after the headers went out
            self.chunk(': priming comment\r\n\r\ndata: {"error": {"message": "no candidate '
                       'could answer", "type": "server_error", "code": "unavailable"}}\r\n\r\n')
            return self.end_stream()

        event({"choices": [{"index": 0, "delta": {"role": "assistant"}}],
               "atlas": {"model": "tiny-s", "backend": "sierra", "tier": "fast",
                         "reason": "model \"fast\" names tier fast", "queue_ms": 0}})
        if model == "hang":  # one word, then silence until the client hangs up
            event({"choices": [{"index": 0, "delta": {"content": "first"}}]})
            self.server.hung.set()
            try:
                while not self.server.release.wait(0.05):
                    self.chunk(": keep-alive\n\n")
            except OSError:
                self.server.hangups.append(model)
            self.close_connection = True
            return
        words = text.split(" ")
        for i, w in enumerate(words):
            piece = w if i == 0 else " " + w
            # a multi-line data field on one event, to exercise the joining rule
            if i == 1:
                doc = json.dumps({**base, "choices": [{"index": 0, "delta": {"content": piece}}]},
                                 indent=1)
                self.chunk("data: " + doc.replace("\n", "\ndata: ") + "\n\n")
            else:
                event({"choices": [{"index": 0, "delta": {"content": piece}}]})
        if model == "breaks":
            self.chunk('data: {"error": {"message": "upstream went away", '
                       '"type": "server_error", "code": "upstream-error"}}\n\n')
            return self.end_stream()
        event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            event({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 3,
                                            "total_tokens": 8}})
        self.chunk(": atlas " + json.dumps({
            "model": "tiny-s", "backend": "sierra", "tier": "fast", "reason": "r",
            "attempts": [{"model": "tiny-s", "backend": "sierra", "status": 200, "ms": 1}],
            "usage": {"prompt_tokens": 6, "completion_tokens": 4, "reported": False},
            "cost_usd": 0.0, "latency_ms": 3, "ttft_ms": 1, "queue_ms": 0}) + "\n\n")
        self.end_stream()

    def end_stream(self):
        """[DONE] and the last chunk; the client may have hung up already
        (it stops reading at an error event)."""
        try:
            self.chunk("data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True


class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def start(server):
    server.seen = []
    server.hung = threading.Event()
    server.release = threading.Event()
    server.hangups = []
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
        e = cm.exception
        self.assertEqual((e.code, e.message, e.status), ("http-401", "bad token", 401))
        self.assertEqual((e.type, e.title, e.detail), ("about:blank", "Unauthorized", "bad token"))

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
        self.assertEqual((cm.exception.code, cm.exception.message, cm.exception.status),
                         ("model_not_found", "model not found", 404))

    def test_llm_metadata(self):
        # the gateway's member, with its headers agreeing
        resp = self.run_async(self.ctx().llm("hi", model="balanced"))
        self.assertEqual({k: resp["atlas"][k] for k in ("model", "backend", "tier", "reason")},
                         {"model": "tiny-a", "backend": "alpha", "tier": "balanced",
                          "reason": "agent preference balanced"})
        self.assertEqual(resp["atlas"]["cost_usd"], 0.0)  # the rest is kept
        # only the Atlas-* headers
        resp = self.run_async(self.ctx().llm("hi", model="headers-only"))
        self.assertEqual(resp["atlas"], {"model": "tiny-h", "backend": "hotel", "tier": "fast",
                                         "reason": None})
        # a plain OpenAI-compatible server: the response's model, the rest None
        resp = self.run_async(self.ctx().llm("hi", model="gpt-x"))
        self.assertEqual(resp["atlas"], {"model": "gpt-x", "backend": None, "tier": None,
                                         "reason": None})

    def test_llm_problems(self):
        ctx = self.ctx()
        with self.assertRaises(AtlasError) as cm:
            self.run_async(ctx.llm("x", model="budget"))
        e = cm.exception
        self.assertEqual((e.code, e.status, e.type),
                         ("limit-exceeded", 429, "urn:atlas:error:limit-exceeded"))
        self.assertIn("max_tokens_per_chain (150 tokens)", e.message)
        self.assertEqual(e.detail, e.message)
        self.assertEqual(e.data["error"]["type"], "rate_limit_exceeded")  # the whole problem
        with self.assertRaises(AtlasError) as cm:
            self.run_async(ctx.llm("x", model="none"))
        e = cm.exception
        self.assertEqual((e.code, e.status, e.title), ("not-available", 501,
                                                       "not available in this build"))
        self.assertEqual(e.message, "no model backend is configured (models.backends)")
        with self.assertRaises(AtlasError) as cm:
            self.run_async(ctx.llm("x", model="foreign-problem"))
        e = cm.exception
        self.assertEqual((e.code, e.status), ("https://example.com/probs/out-of-credit", 400))
        self.assertEqual(e.message, "Your current balance is 30, but that costs 50.")
        self.assertEqual(e.data["balance"], 30)
        with self.assertRaises(AtlasError) as cm:
            self.run_async(ctx.llm("x", model="plain-500"))
        self.assertEqual((cm.exception.code, cm.exception.message, cm.exception.status),
                         ("http-500", "upstream exploded", 500))
        # the same errors for a stream: refusals come before the first chunk
        with self.assertRaises(AtlasError) as cm:
            self.run_async(ctx.llm("x", model="budget", stream=True))
        self.assertEqual(cm.exception.code, "limit-exceeded")
        with mock.patch.dict(os.environ, {"OPENAI_BASE_URL": "http://127.0.0.1:1/v1"}):
            with self.assertRaises(AtlasError) as cm:
                self.run_async(ctx.llm("x"))
            self.assertEqual(cm.exception.code, "unreachable")
            with self.assertRaises(AtlasError) as cm:
                self.run_async(ctx.llm("x", stream=True))
            self.assertEqual(cm.exception.code, "unreachable")

    def test_llm_stream(self):
        async def go():
            stream = await self.ctx().llm("one two three", stream=True,
                                          stream_options={"include_usage": True})
            self.assertEqual(stream.atlas["backend"], "sierra")  # known before any chunk
            chunks = [c async for c in stream]
            return stream, chunks

        stream, chunks = self.run_async(go())
        body = self.httpd.seen[0]["body"]
        self.assertIs(body["stream"], True)
        self.assertEqual(body["model"], "fast")
        self.assertEqual(self.httpd.seen[0]["headers"]["accept"], "text/event-stream")
        self.assertEqual(chunks[0]["atlas"]["tier"], "fast")
        self.assertTrue(all(c["object"] == "chat.completion.chunk" for c in chunks))
        self.assertEqual("".join(c["choices"][0]["delta"].get("content", "")
                                 for c in chunks if c["choices"]), "echo: one two three")
        self.assertEqual(stream.text, "echo: one two three")
        self.assertEqual(stream.finish_reason, "stop")
        self.assertEqual(stream.usage, {"prompt_tokens": 5, "completion_tokens": 3,
                                        "total_tokens": 8})
        # the closing ": atlas {...}" comment adds attempts, latency, cost
        self.assertEqual(stream.atlas["model"], "tiny-s")
        self.assertEqual(stream.atlas["latency_ms"], 3)
        self.assertEqual(len(stream.atlas["attempts"]), 1)

    def test_llm_stream_collect_and_usage_from_the_gateway(self):
        async def go():
            return await (await self.ctx().llm("a b", stream=True)).collect()

        resp = self.run_async(go())
        self.assertEqual(resp["choices"][0]["message"], {"role": "assistant",
                                                         "content": "echo: a b"})
        self.assertEqual(resp["choices"][0]["finish_reason"], "stop")
        self.assertEqual(resp["model"], "tiny-s")
        self.assertEqual(resp["atlas"]["reason"], "r")
        # no usage chunk was asked for: the gateway's count from its comment
        self.assertEqual(resp["usage"]["completion_tokens"], 4)

    def test_llm_stream_error_event(self):
        async def go():
            stream = await self.ctx().llm("a b c", model="breaks", stream=True)
            got = []
            with self.assertRaises(AtlasError) as cm:
                async for c in stream:
                    got.append(c)
            return stream, got, cm.exception

        stream, got, e = self.run_async(go())
        self.assertEqual((e.code, e.message), ("upstream-error", "upstream went away"))
        self.assertEqual(stream.text, "echo: a b c")  # what came before the error

    def test_llm_stream_error_before_the_first_chunk(self):
        with self.assertRaises(AtlasError) as cm:
            self.run_async(self.ctx().llm("x", model="fails-at-once", stream=True))
        self.assertEqual((cm.exception.code, cm.exception.message),
                         ("unavailable", "no candidate could answer"))

    def test_llm_stream_from_a_server_that_ignores_stream(self):
        async def go():
            stream = await self.ctx().llm("x y", model="ignores-stream", stream=True)
            return stream, [c async for c in stream]

        stream, chunks = self.run_async(go())
        self.assertEqual(len(chunks), 1)
        self.assertEqual(chunks[0]["choices"][0]["delta"]["content"], "echo: x y")
        self.assertEqual(stream.text, "echo: x y")
        self.assertEqual(stream.atlas["model"], "ignores-stream")

    def test_llm_stream_hang_up(self):
        """aclose() and cancelling the reading task both hang up at once."""
        self.httpd.release.clear()
        self.addCleanup(self.httpd.release.set)

        async def close_early():
            async with await self.ctx().llm("x", model="hang", stream=True) as stream:
                first = [await stream.__anext__(), await stream.__anext__()]
            return stream, first

        stream, first = self.run_async(close_early())
        self.assertEqual(first[1]["choices"][0]["delta"]["content"], "first")
        self.assertEqual(stream.text, "first")
        self.assertTrue(self._wait(lambda: self.httpd.hangups == ["hang"]), self.httpd.hangups)

        async def cancel_reader():
            stream = await self.ctx().llm("x", model="hang", stream=True)

            async def read_all():
                return [c async for c in stream]

            task = asyncio.create_task(read_all())
            await asyncio.to_thread(self.httpd.hung.wait, 5)
            await asyncio.sleep(0.1)
            task.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await asyncio.wait_for(task, 2)

        self.httpd.hung.clear()
        self.run_async(cancel_reader())
        self.assertTrue(self._wait(lambda: self.httpd.hangups == ["hang", "hang"]),
                        self.httpd.hangups)

    @staticmethod
    def _wait(cond, seconds=5.0):
        import time
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if cond():
                return True
            time.sleep(0.02)
        return cond()

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
        base = "http+unix://" + path.replace("/", "%2F") + "/v1"
        with mock.patch.dict(os.environ, {"OPENAI_BASE_URL": base}):
            resp = self.run_async(self.ctx().llm("over a socket"))
            self.assertEqual(resp["choices"][0]["message"]["content"], "echo: over a socket")

            async def stream():
                return await (await self.ctx().llm("streamed too", stream=True)).collect()

            resp = self.run_async(stream())
            self.assertEqual(resp["choices"][0]["message"]["content"], "echo: streamed too")
        self.assertEqual(srv.seen[1]["path"], "/v1/chat/completions")

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
