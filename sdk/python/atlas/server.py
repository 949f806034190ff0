"""The MCP stdio server that wraps one agent (docs/agent-protocol.md).

Newline-delimited JSON-RPC 2.0 on two file descriptors.  Both protocol
revisions are served, chosen per request: a request whose ``_meta`` carries
``io.modelcontextprotocol/protocolVersion`` is a 2026-07-28 (stateless)
request; anything else is served as 2025-11-25 (``initialize`` is answered but
not required, so a client that skips it still works).

Threads: one thread reads stdin and hands lines to the asyncio loop; every
request is handled on the loop; ``tools/call`` runs as an asyncio task so
``notifications/cancelled`` can cancel it.  Writes to stdout take a lock and
are whole lines, so ``context.log`` may be called from worker threads.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import signal
import sys
import threading
import traceback
from typing import Any

from . import jsonschema
from .agent import AgentBase, AgentContext
from .contract import schema_of
from .protocol import (DISCOVER_VERSIONS, INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST,
                       LEGACY_VERSIONS, MAX_LINE_BYTES, META_PROTOCOL_VERSION, META_SERVER_INFO,
                       META_USAGE, METHOD_NOT_FOUND, MODERN_VERSION, PARSE_ERROR,
                       REQUEST_CANCELLED, UNSUPPORTED_PROTOCOL_VERSION)

_EOF = object()       # stdin closed
_OVERSIZE = object()  # a line longer than the limit was skipped
_STOP = object()      # SIGTERM or a broken stdout

# At shutdown: how long running calls get to finish after stdin closed, and
# again after they were cancelled.  Both together stay under the runtime's
# execution.timeouts.shutdown (5 s) before SIGTERM.
SHUTDOWN_GRACE_S = 1.5

_LOG_LEVELS = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]


class _RpcError(Exception):
    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


def _tool_error(message: str) -> dict:
    return {"isError": True, "content": [{"type": "text", "text": message}]}


def _jsonable(value: Any, depth: int = 0) -> Any:
    """A JSON-safe copy: non-finite floats become null, other objects their repr."""
    if depth > 64:
        return None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, dict):
        return {str(k): _jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, depth + 1) for v in value]
    return repr(value)


def _id_key(rid: Any) -> str:
    # JSON ids 1 and "1" are different requests.
    return json.dumps(rid)


class Server:
    """Serve ``agent`` on ``in_fd`` / ``out_fd`` until EOF or SIGTERM."""

    def __init__(self, agent: AgentBase, contract: dict, *, name: str, version: str,
                 in_fd: int = 0, out_fd: int = 1, log=None, max_line: int = MAX_LINE_BYTES):
        self.agent = agent
        self.contract = contract
        self.name = name
        self.version = version
        self.in_fd = in_fd
        self.out_fd = out_fd
        self.log = log or sys.stderr
        self.max_line = max_line
        self.input_schema = schema_of(contract, "input")
        self.output_schema = schema_of(contract, "output")
        self._tasks: dict[str, tuple[asyncio.Task, AgentContext]] = {}
        self._write_lock = threading.Lock()
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inbox: asyncio.Queue | None = None
        self._log_level = 0
        # our requests to the runtime (elicitation/create): id -> Future
        self._pending: dict[str, asyncio.Future] = {}
        self._next_req = 0
        self._methods = {
            "server/discover": self._discover,
            "initialize": self._initialize,
            "ping": self._ping,
            "tools/list": self._tools_list,
            "tools/call": self._tools_call,
            "logging/setLevel": self._set_level,
        }

    # -- output -----------------------------------------------------------
    def send(self, msg: dict) -> None:
        """Write one JSON-RPC message as one line.  Thread-safe."""
        try:
            text = json.dumps(msg, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
            data = (text + "\n").encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: fall back to \u escapes
            data = (json.dumps(msg, separators=(",", ":"), allow_nan=False) + "\n").encode()
        with self._write_lock:
            view = memoryview(data)
            try:
                while view:
                    n = os.write(self.out_fd, view)
                    view = view[n:]
            except OSError:
                # The runtime is gone (EPIPE): nobody reads us any more.
                self._request_stop()

    def _respond(self, rid: Any, result: dict) -> None:
        self.send({"jsonrpc": "2.0", "id": rid, "result": result})

    def _error(self, rid: Any, code: int, message: str, data: Any = None) -> None:
        err: dict = {"code": code, "message": message}
        if data is not None:
            err["data"] = data
        self.send({"jsonrpc": "2.0", "id": rid, "error": err})

    def notify(self, method: str, params: dict) -> None:
        """Send a notification; data that is not JSON is sent as its repr."""
        if method == "notifications/message":
            lvl = params.get("level", "info")
            if lvl in _LOG_LEVELS and _LOG_LEVELS.index(lvl) < self._log_level:
                return
        msg = {"jsonrpc": "2.0", "method": method, "params": params}
        try:
            json.dumps(msg, allow_nan=False)
        except (TypeError, ValueError):
            msg = _jsonable(msg)
        self.send(msg)

    async def request(self, method: str, params: dict) -> dict:
        """Send a request to the runtime (elicitation/create) and wait for its
        answer; raises RuntimeError with the runtime's message on an error."""
        loop = asyncio.get_running_loop()
        self._next_req += 1
        rid = f"atlas-agent-{self._next_req}"
        fut = loop.create_future()
        self._pending[rid] = fut
        try:
            self.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
            return await fut
        finally:
            self._pending.pop(rid, None)

    def _on_response(self, msg: dict) -> None:
        rid = msg.get("id")
        fut = self._pending.get(rid) if isinstance(rid, str) else None
        if fut is None or fut.done():
            return  # not ours, or its asker gave up
        if "error" in msg:
            err = msg.get("error") or {}
            fut.set_exception(RuntimeError(f"{err.get('message')} (code {err.get('code')})"))
        else:
            fut.set_result(msg.get("result") or {})

    # -- the tool ---------------------------------------------------------
    def tool_definition(self) -> dict:
        tool: dict = {"name": self.name}
        desc = self.contract.get("description")
        if isinstance(desc, str) and desc:
            tool["description"] = desc
        tool["inputSchema"] = self.input_schema if isinstance(self.input_schema, dict) \
            else {"type": "object"}
        # MCP requires an outputSchema to describe an object.
        if isinstance(self.output_schema, dict) and self.output_schema.get("type") == "object":
            tool["outputSchema"] = self.output_schema
        if self.contract.get("idempotent") is True:
            tool["annotations"] = {"idempotentHint": True}
        return tool

    # -- method handlers (on the loop) -----------------------------------
    def _server_info(self) -> dict:
        return {"name": self.name, "version": self.version}

    def _discover(self, rid, params, modern):
        # MCP 2026-07-28 server/discover
        self._respond(rid, {
            "resultType": "complete",
            "supportedVersions": list(DISCOVER_VERSIONS),
            "capabilities": {"tools": {}, "logging": {}},
            "serverInfo": self._server_info(),
            "_meta": {META_SERVER_INFO: self._server_info()},
        })

    def _initialize(self, rid, params, modern):
        # MCP 2025-11-25 lifecycle: answer with the client's version when we
        # speak it, else with the newest one we do.
        asked = params.get("protocolVersion")
        version = asked if asked in LEGACY_VERSIONS else LEGACY_VERSIONS[0]
        self._respond(rid, {
            "protocolVersion": version,
            "capabilities": {"tools": {}, "logging": {}},
            "serverInfo": self._server_info(),
        })

    def _ping(self, rid, params, modern):
        self._respond(rid, {"resultType": "complete"} if modern else {})

    def _tools_list(self, rid, params, modern):
        result: dict = {"tools": [self.tool_definition()]}
        if modern:
            result["resultType"] = "complete"
        self._respond(rid, result)

    def _set_level(self, rid, params, modern):
        level = params.get("level")
        if level not in _LOG_LEVELS:
            raise _RpcError(INVALID_PARAMS, f"unknown log level {level!r}")
        self._log_level = _LOG_LEVELS.index(level)
        self._respond(rid, {"resultType": "complete"} if modern else {})

    def _tools_call(self, rid, params, modern):
        key = _id_key(rid)
        if key in self._tasks:
            raise _RpcError(INVALID_REQUEST, f"request id {rid!r} is already in use")
        meta = params.get("_meta")
        ctx = AgentContext(request_id=rid, meta=meta if isinstance(meta, dict) else {},
                           agent_name=self.name,
                           protocol_version=MODERN_VERSION if modern else LEGACY_VERSIONS[0],
                           contract=self.contract, notify=self.notify,
                           request=self.request)
        task = asyncio.get_running_loop().create_task(self._run_call(rid, params, modern, ctx))
        self._tasks[key] = (task, ctx)

    async def _run_call(self, rid, params, modern, ctx: AgentContext) -> None:
        try:
            result = await self._call(params, ctx)
            if ctx.cancelled:
                self._error(rid, REQUEST_CANCELLED, "Request cancelled")
                return
            if modern:
                result["resultType"] = "complete"
            self._respond(rid, result)
        except asyncio.CancelledError:
            if ctx.cancelled:
                self._error(rid, REQUEST_CANCELLED, "Request cancelled")
            # else: shutting down; nobody waits for an answer.
        except _RpcError as exc:
            self._error(rid, exc.code, exc.message, exc.data)
        except Exception as exc:  # a bug in the SDK itself: keep serving
            traceback.print_exc(file=self.log)
            self._error(rid, INTERNAL_ERROR, f"internal error: {exc}")
        finally:
            self._tasks.pop(_id_key(rid), None)

    async def _call(self, params: dict, ctx: AgentContext) -> dict:
        """Run one tools/call; return the CallToolResult."""
        name = params.get("name")
        if name != self.name:
            raise _RpcError(INVALID_PARAMS, f"Unknown tool: {name!r} (this agent's tool is "
                                            f"{self.name!r})")
        args = params.get("arguments")
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise _RpcError(INVALID_PARAMS, "arguments must be an object")

        # Input errors are tool errors (MCP 2025-11-25), so the caller sees them.
        if self.agent.validate_input and self.input_schema is not None:
            try:
                args = jsonschema.apply_defaults(args, self.input_schema)
                jsonschema.validate(args, self.input_schema)
            except jsonschema.ValidationError as exc:
                return self._with_usage(_tool_error(f"input does not match the input schema: "
                                                    f"{exc}"), ctx)
            except jsonschema.SchemaError as exc:
                return _tool_error(f"the contract's input schema is unusable: {exc}")

        try:
            out = self.agent.execute(args, ctx)
            if inspect.isawaitable(out):
                out = await out
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The agent failed; the process goes on serving.
            print(f"{self.name}: execute() raised:", file=self.log)
            traceback.print_exc(file=self.log)
            return self._with_usage(_tool_error(str(exc) or type(exc).__name__), ctx)

        if out is None:
            return self._with_usage(_tool_error("execute() returned None; it must return a dict"),
                                    ctx)
        if self.agent.validate_output and self.output_schema is not None:
            try:
                jsonschema.validate(out, self.output_schema)
            except jsonschema.ValidationError as exc:
                return self._with_usage(_tool_error(f"output does not match the output schema: "
                                                    f"{exc}"), ctx)
            except jsonschema.SchemaError as exc:
                return _tool_error(f"the contract's output schema is unusable: {exc}")
        try:
            text = json.dumps(out, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            return self._with_usage(_tool_error(f"execute() returned a value that is not "
                                                f"JSON: {exc}"), ctx)
        result: dict = {"content": [{"type": "text", "text": text}]}
        if isinstance(out, dict):
            result["structuredContent"] = out
        return self._with_usage(result, ctx)

    @staticmethod
    def _with_usage(result: dict, ctx: AgentContext) -> dict:
        usage = ctx.usage
        if usage:
            result["_meta"] = {META_USAGE: usage}
        return result

    def _cancel(self, params: dict) -> None:
        # MCP basic/utilities/cancellation
        entry = self._tasks.get(_id_key(params.get("requestId")))
        if entry:
            task, ctx = entry
            ctx._cancelled = True
            reason = params.get("reason")
            print(f"{self.name}: request {params.get('requestId')!r} cancelled"
                  + (f": {reason}" if reason else ""), file=self.log)
            task.cancel()

    # -- dispatch ---------------------------------------------------------
    def dispatch(self, line) -> None:
        if line is _OVERSIZE:
            self._error(None, PARSE_ERROR, f"message longer than {self.max_line} bytes")
            return
        try:
            msg = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            self._error(None, PARSE_ERROR, "Parse error: the line is not JSON")
            return
        if isinstance(msg, list):
            self._error(None, INVALID_REQUEST, "batches are not supported")
            return
        if not isinstance(msg, dict) or msg.get("jsonrpc") != "2.0":
            rid = msg.get("id") if isinstance(msg, dict) else None
            self._error(rid if isinstance(rid, (str, int)) else None, INVALID_REQUEST,
                        "not a JSON-RPC 2.0 message")
            return
        method = msg.get("method")
        if method is None:
            self._on_response(msg)  # the answer to one of our requests
            return
        params = msg.get("params")
        if params is None:
            params = {}
        if "id" not in msg:
            if method == "notifications/cancelled" and isinstance(params, dict):
                self._cancel(params)
            return  # notifications/initialized and the rest need nothing
        rid = msg["id"]
        if isinstance(rid, bool) or not isinstance(rid, (str, int)):
            self._error(None, INVALID_REQUEST, "id must be a string or an integer")
            return
        if not isinstance(method, str):
            self._error(rid, INVALID_REQUEST, "method must be a string")
            return
        if not isinstance(params, dict):
            self._error(rid, INVALID_PARAMS, "params must be an object")
            return
        meta = params.get("_meta")
        modern = isinstance(meta, dict) and META_PROTOCOL_VERSION in meta
        if modern and meta[META_PROTOCOL_VERSION] != MODERN_VERSION:
            # MCP 2026-07-28 basic/versioning
            self._error(rid, UNSUPPORTED_PROTOCOL_VERSION, "Unsupported protocol version",
                        {"supported": [MODERN_VERSION], "requested": meta[META_PROTOCOL_VERSION]})
            return
        handler = self._methods.get(method)
        if handler is None:
            self._error(rid, METHOD_NOT_FOUND, f"Method not found: {method}")
            return
        try:
            handler(rid, params, modern)
        except _RpcError as exc:
            self._error(rid, exc.code, exc.message, exc.data)

    # -- input ------------------------------------------------------------
    def _put(self, item) -> None:
        loop = self._loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(self._inbox.put_nowait, item)
        except RuntimeError:
            pass  # the loop is closed: we are exiting

    def _reader(self) -> None:
        """Split stdin into lines (thread).  A line over ``max_line`` bytes is
        skipped whole and reported once."""
        buf = bytearray()
        skipping = False
        while True:
            try:
                chunk = os.read(self.in_fd, 1 << 16)
            except InterruptedError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                if buf and not skipping:
                    self._put(bytes(buf))
                self._put(_EOF)
                return
            start = 0
            while True:
                nl = chunk.find(b"\n", start)
                if nl < 0:
                    if not skipping:
                        buf += chunk[start:]
                        if len(buf) > self.max_line:
                            buf.clear()
                            skipping = True
                            self._put(_OVERSIZE)
                    break
                if skipping:
                    skipping = False
                else:
                    buf += chunk[start:nl]
                    if len(buf) > self.max_line:
                        self._put(_OVERSIZE)
                    elif buf.strip():
                        self._put(bytes(buf))
                buf.clear()
                start = nl + 1

    def _request_stop(self) -> None:
        self._stopping = True
        self._put(_STOP)

    # -- lifecycle --------------------------------------------------------
    async def _hook(self, kind: str) -> None:
        lifecycle = self.contract.get("lifecycle")
        name = lifecycle.get(kind) if isinstance(lifecycle, dict) else None
        if not isinstance(name, str) or not name:
            name = f"on_{kind}"
        fn = getattr(self.agent, name, None)
        if fn is None:
            raise AttributeError(f"lifecycle.{kind} names {name!r}, which "
                                 f"{type(self.agent).__name__} does not define")
        res = fn()
        if inspect.isawaitable(res):
            await res

    async def run(self) -> int:
        """Serve until EOF on stdin or SIGTERM; return the exit status."""
        self._loop = asyncio.get_running_loop()
        self._inbox = asyncio.Queue()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._loop.add_signal_handler(sig, self._request_stop)
            except (NotImplementedError, RuntimeError, ValueError):
                pass  # not the main thread (tests): rely on EOF
        threading.Thread(target=self._reader, name="atlas-stdin", daemon=True).start()

        # on_startup runs before the first request is answered.
        try:
            await self._hook("startup")
        except Exception:
            print(f"{self.name}: on_startup failed:", file=self.log)
            traceback.print_exc(file=self.log)
            return 1

        eof = False
        while not self._stopping:
            item = await self._inbox.get()
            if item is _EOF:
                eof = True
                break
            if item is _STOP or self._stopping:
                break
            self.dispatch(item)

        # Shutdown.  At EOF, calls still running get a moment to finish (a
        # client may send a request and close its end at once); then, as on
        # SIGTERM, what still runs is cancelled and given a moment too.
        pending = [task for task, _ in self._tasks.values()]
        if pending and eof:
            _, pending = await asyncio.wait(pending, timeout=SHUTDOWN_GRACE_S)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=SHUTDOWN_GRACE_S)
        try:
            await self._hook("shutdown")
        except Exception:
            print(f"{self.name}: on_shutdown failed:", file=self.log)
            traceback.print_exc(file=self.log)
            return 1
        return 0
