"""``AgentBase`` (what an agent subclasses) and ``AgentContext`` (what each
call of ``execute`` receives)."""

from __future__ import annotations

import asyncio
import os
from typing import Any, Callable

from . import platform
from .platform import AtlasError
from .protocol import META_JOB_ID, META_TOKEN, TRACE_KEYS


class AgentBase:
    """Thin base class for an Atlas agent.  Not a framework.

    Subclass it and implement ``async def execute(self, input, context)``,
    returning a dict that matches the contract's output schema.  Optionally
    define ``async def on_startup(self)`` (runs once, before the process
    answers its first request) and ``async def on_shutdown(self)`` (runs when
    the runtime closes stdin or sends SIGTERM).  Hooks may also be plain
    functions.  The runner instantiates the class with no arguments.

    Set by the runner before ``on_startup``:

    * ``self.contract`` -- the ``agent:`` block of agent.yaml, as a dict
    * ``self.name`` / ``self.version`` -- the agent's name and version

    Class attributes an agent may set:

    * ``validate_input`` / ``validate_output`` (default True) -- check
      arguments and results against the contract's schemas in the process.
    """

    contract: dict = {}
    name: str = ""
    version: str = ""
    validate_input: bool = True
    validate_output: bool = True

    async def execute(self, input: dict, context: "AgentContext") -> dict:
        raise NotImplementedError(f"{type(self).__name__} must implement execute()")

    async def on_startup(self) -> None:
        pass

    async def on_shutdown(self) -> None:
        pass


class AgentContext:
    """Per-call context handed to ``execute``.

    Attributes: ``job_id`` (the Atlas job, or None when run standalone),
    ``token`` (the job token: ``_meta["io.atlas/token"]``, else ``ATLAS_TOKEN``),
    ``request_id`` (the JSON-RPC id of the call), ``meta`` (the call's
    ``_meta``), ``protocol_version`` and ``agent_name``.

    ``log`` and ``progress`` may be called from any thread.
    """

    def __init__(self, *, request_id: Any = None, meta: dict | None = None,
                 agent_name: str = "", protocol_version: str = "",
                 contract: dict | None = None,
                 notify: Callable[[str, dict], None] | None = None,
                 request: Callable[[str, dict], Any] | None = None):
        self.request_id = request_id
        self.meta = meta or {}
        self.agent_name = agent_name
        self.protocol_version = protocol_version
        self.job_id = self.meta.get(META_JOB_ID)
        token = self.meta.get(META_TOKEN)
        self.token = token if isinstance(token, str) and token else os.environ.get("ATLAS_TOKEN")
        self._contract = contract or {}
        self._notify = notify
        self._request = request
        self._usage: dict | None = None
        self._cancelled = False

    # -- talking back to the runtime ------------------------------------
    def log(self, message: Any, level: str = "info") -> None:
        """Add a line to the job's log (``notifications/message``)."""
        if self._notify:
            self._notify("notifications/message",
                         {"level": level, "logger": self.agent_name or "agent", "data": message})

    def progress(self, progress: float, total: float | None = None,
                 message: str | None = None) -> None:
        """Report progress (``notifications/progress``).  A no-op when the
        caller sent no ``progressToken``.  ``progress`` must increase."""
        token = self.meta.get("progressToken")
        if token is None or not self._notify:
            return
        params: dict = {"progressToken": token, "progress": progress}
        if total is not None:
            params["total"] = total
        if message is not None:
            params["message"] = message
        self._notify("notifications/progress", params)

    async def elicit(self, message: str, schema: dict | None = None) -> dict:
        """Ask the job's caller (MCP ``elicitation/create``) and wait for the
        answer: ``{"action": "accept", "content": {...}}``, or ``"decline"`` /
        ``"cancel"``.  The job shows ``meta.input_required`` until someone
        answers through ``POST /api/v1/jobs/ID/input`` (``atlas jobs
        respond``) or an A2A message that continues the task.  Raises RuntimeError when nobody
        can be asked (run standalone)."""
        if not self._request:
            raise RuntimeError("no runtime to ask: elicit needs the job's caller")
        params: dict = {"message": message,
                        "requestedSchema": schema or {"type": "object", "properties": {}}}
        return await self._request("elicitation/create", params)

    def report_usage(self, tokens_in: int, tokens_out: int, model: str | None = None) -> None:
        """Record model usage for this call; it is sent back with the result
        as ``_meta["io.atlas/usage"]``.  Calls add up."""
        u = self._usage or {"tokens_in": 0, "tokens_out": 0}
        u["tokens_in"] += int(tokens_in)
        u["tokens_out"] += int(tokens_out)
        if model:
            u["model"] = model
        self._usage = u

    @property
    def usage(self) -> dict | None:
        """What ``report_usage`` recorded so far, or None."""
        return dict(self._usage) if self._usage else None

    @property
    def cancelled(self) -> bool:
        """True once the runtime has cancelled this call."""
        return self._cancelled

    # -- calling the platform -------------------------------------------
    def _platform_meta(self) -> dict:
        meta = {k: self.meta[k] for k in TRACE_KEYS if isinstance(self.meta.get(k), str)}
        if self.job_id:
            meta[META_JOB_ID] = self.job_id
        return meta

    async def call_tool(self, name: str, arguments: dict, timeout: float | None = 600) -> Any:
        """Call any platform MCP tool (``atlas.registry.list``, ...) at
        ``ATLAS_MCP_URL``; return its structured result or raise AtlasError."""
        url = os.environ.get("ATLAS_MCP_URL")
        if not url:
            raise AtlasError("no-platform",
                             "ATLAS_MCP_URL is not set (is the agent running under atlasd?)")
        return await asyncio.to_thread(platform.mcp_call_tool, url, self.token, name,
                                       arguments, self._platform_meta(), timeout)

    async def spawn(self, agent: str, input: dict, timeout: float | None = 600) -> Any:
        """Run another agent as a child job and return its output
        (``atlas.exec.spawn``).  Raises AtlasError when the child fails."""
        return await self.call_tool("atlas.exec.spawn", {"agent": agent, "input": input}, timeout)

    async def spawn_job(self, agent: str, input: dict,
                        timeout: float | None = 600) -> tuple[Any, str | None]:
        """As :meth:`spawn`, and also the child's job id: ``(output, job_id)``
        (the id is None when the server did not say)."""
        url = os.environ.get("ATLAS_MCP_URL")
        if not url:
            raise AtlasError("no-platform",
                             "ATLAS_MCP_URL is not set (is the agent running under atlasd?)")
        rmeta: dict = {}
        out = await asyncio.to_thread(platform.mcp_call_tool, url, self.token, "atlas.exec.spawn",
                                      {"agent": agent, "input": input}, self._platform_meta(),
                                      timeout, rmeta)
        job = rmeta.get(META_JOB_ID)
        return out, job if isinstance(job, str) else None

    async def skill(self, name: str, input: dict, timeout: float | None = 600) -> Any:
        """Invoke a platform skill (``atlas.skills.invoke``) and return its output."""
        return await self.call_tool("atlas.skills.invoke", {"skill": name, "input": input}, timeout)

    async def llm(self, messages: Any, *, model: str | None = None,
                  timeout: float | None = 600, stream: bool = False, **kw: Any) -> Any:
        """Chat completion through the platform's OpenAI-compatible gateway
        (``$OPENAI_BASE_URL/chat/completions``).

        ``messages`` is the OpenAI messages list, or a str for one user
        message.  ``model`` defaults to the contract's ``model.preference``
        (a tier name such as "fast" that the gateway resolves); a tier name
        or a configured model may be given.  Other keyword arguments
        (``temperature``, ``max_tokens``, ...) go into the request body.

        Returns the response document; the reply text is
        ``resp["choices"][0]["message"]["content"]`` and ``resp["atlas"]``
        is the gateway's metadata, with ``model``, ``backend``, ``tier`` and
        ``reason`` always present (None when the server did not say).

        With ``stream=True`` it returns an :class:`LLMStream` once the
        first chunk has come (so ``stream.atlas`` already names the model
        that answers, and a refusal or an error before any output raises
        here); ``async for chunk in stream`` yields
        the ``chat.completion.chunk`` dicts as they come, and the stream
        keeps ``text``, ``atlas``, ``usage`` and ``finish_reason``.

        Raises :class:`AtlasError`: ``code`` ``"limit-exceeded"`` (429: the
        chain's token budget), ``"not-available"`` (501: no model is
        configured), another problem type or ``"http-<status>"``,
        ``"unreachable"``, or ``"no-platform"`` without ``OPENAI_BASE_URL``.
        ``timeout`` (seconds) bounds the whole call, or for a stream each
        wait for the next chunk.
        """
        base = os.environ.get("OPENAI_BASE_URL")
        if not base:
            raise AtlasError("no-platform", "OPENAI_BASE_URL is not set")
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        if model is None:
            pref = (self._contract.get("model") or {}).get("preference") \
                if isinstance(self._contract.get("model"), dict) else None
            model = pref if isinstance(pref, str) and pref else "balanced"
        body = {"model": model, "messages": messages, **kw}
        key = os.environ.get("OPENAI_API_KEY") or self.token
        if stream:
            s = await asyncio.to_thread(platform.chat_completions_stream, base, key, body,
                                        timeout)
            return LLMStream(s)
        return await asyncio.to_thread(platform.chat_completions, base, key, body, timeout)


class LLMStream:
    """A streamed chat completion (``await context.llm(..., stream=True)``).

    ``async for chunk in stream`` yields each ``chat.completion.chunk`` dict
    (the first carries the gateway's ``atlas`` member).  An error event
    raises :class:`AtlasError`.  Meanwhile:

    * ``text`` -- the reply so far (the ``delta.content`` of choice 0)
    * ``atlas`` -- model, backend, tier, reason; after the end also
      attempts, usage, cost and latency (the gateway's closing comment)
    * ``usage`` -- the usage chunk's, else the gateway's count, else None
    * ``finish_reason``

    ``await stream.collect()`` reads the rest and returns a
    ``chat.completion``-shaped dict.  Leaving early: ``await
    stream.aclose()`` (or ``async with``), which hangs up so the gateway
    cancels the call.  Cancelling the task that reads also hangs up.
    """

    def __init__(self, blocking: "platform.ChatStream"):
        self._s = blocking

    @property
    def text(self) -> str:
        return self._s.text

    @property
    def atlas(self) -> dict:
        return self._s.atlas

    @property
    def usage(self) -> dict | None:
        return self._s.usage

    @property
    def finish_reason(self) -> str | None:
        return self._s.finish_reason

    def __aiter__(self) -> "LLMStream":
        return self

    async def __anext__(self) -> dict:
        try:
            chunk = await asyncio.to_thread(self._s.next_chunk)
        except asyncio.CancelledError:
            self._s.close()  # unblocks the worker thread
            raise
        if chunk is None:
            raise StopAsyncIteration
        return chunk

    async def collect(self) -> dict:
        """Read to the end; return ``{"object": "chat.completion", "model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content":
        text}, "finish_reason"}], "usage", "atlas"}``."""
        async for _ in self:
            pass
        return {"object": "chat.completion", "model": self.atlas.get("model"),
                "choices": [{"index": 0, "finish_reason": self.finish_reason,
                             "message": {"role": "assistant", "content": self.text}}],
                "usage": self.usage, "atlas": self.atlas}

    async def aclose(self) -> None:
        self._s.close()

    async def __aenter__(self) -> "LLMStream":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self._s.close()
