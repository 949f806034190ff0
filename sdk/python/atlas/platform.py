"""Blocking HTTP clients for the platform: MCP (Streamable HTTP, revision
2026-07-28) and the OpenAI-compatible model gateway.

These functions block; :class:`atlas.AgentContext` runs them in a worker
thread (``asyncio.to_thread``) so the agent's event loop keeps serving.

``ATLAS_MCP_URL`` may be ``http://host:port/path`` (or https) or, for a Unix
socket, ``http+unix://<percent-encoded socket path>/mcp`` (for example
``http+unix://%2Frun%2Fatlas%2Fatlasd.sock/mcp``).
"""

from __future__ import annotations

import base64
import http.client
import itertools
import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from .protocol import (META_CLIENT_CAPABILITIES, META_CLIENT_INFO, META_PROTOCOL_VERSION,
                       MODERN_VERSION, SDK_VERSION)

# Bodies larger than this are refused rather than read into memory.
MAX_RESPONSE_BYTES = 64 * 1024 * 1024

_ids = itertools.count(1)


class AtlasError(Exception):
    """A platform call failed.

    ``code`` is the platform's error code: a string such as ``"timeout"`` or
    ``"agent-error"`` when the tool reported one, the JSON-RPC error code (an
    int) for a protocol error, the problem's type for an HTTP error answered
    with an RFC 9457 problem (the slug of Atlas's ``urn:atlas:error:<slug>``
    types: ``"limit-exceeded"``, ``"not-available"``, ...), else
    ``"http-<status>"``.  ``message`` is the text (a problem's ``detail``).
    ``data`` holds whatever detail came with it (the whole problem document
    for HTTP errors).  For HTTP errors ``status`` is the HTTP status and, for
    problem documents, ``type``, ``title`` and ``detail`` are the problem's
    members; otherwise they are None.
    """

    def __init__(self, code: Any, message: str, data: Any = None, *,
                 status: int | None = None, type: str | None = None,
                 title: str | None = None, detail: str | None = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.data = data
        self.status = status
        self.type = type
        self.title = title
        self.detail = detail


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float | None):
        super().__init__("localhost", timeout=timeout)
        self._unix_path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if self.timeout is not None:
            s.settimeout(self.timeout)
        s.connect(self._unix_path)
        self.sock = s


def http_post(url: str, body: bytes, headers: dict, timeout: float | None) -> tuple:
    """POST ``body``; return ``(status, content_type, body_bytes)``.

    HTTP error statuses are returned, not raised; connection failures raise
    :class:`AtlasError` with code ``"unreachable"``.
    """
    parts = urllib.parse.urlsplit(url)
    try:
        if parts.scheme == "http+unix":
            sock_path = urllib.parse.unquote(parts.netloc)
            conn = _UnixHTTPConnection(sock_path, timeout)
            try:
                path = parts.path or "/"
                if parts.query:
                    path += "?" + parts.query
                conn.request("POST", path, body=body, headers={**headers, "Host": "localhost"})
                resp = conn.getresponse()
                data = resp.read(MAX_RESPONSE_BYTES + 1)
                return resp.status, resp.getheader("Content-Type", ""), _bounded(data)
            finally:
                conn.close()
        if parts.scheme not in ("http", "https"):
            raise AtlasError("bad-url", f"unsupported URL scheme in {url!r}")
        req = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                data = resp.read(MAX_RESPONSE_BYTES + 1)
                return resp.status, resp.headers.get("Content-Type", ""), _bounded(data)
        except urllib.error.HTTPError as exc:
            data = exc.read(MAX_RESPONSE_BYTES + 1) if exc.fp else b""
            return exc.code, exc.headers.get("Content-Type", "") if exc.headers else "", _bounded(data)
    except AtlasError:
        raise
    except (OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise AtlasError("unreachable", f"cannot reach {url}: {reason}") from None


def _bounded(data: bytes) -> bytes:
    if len(data) > MAX_RESPONSE_BYTES:
        raise AtlasError("too-large", f"response larger than {MAX_RESPONSE_BYTES} bytes")
    return data


def _header_value(text: str) -> str:
    """HTTP header values are ASCII; others use the MCP base64 sentinel."""
    try:
        text.encode("ascii")
        return text
    except UnicodeEncodeError:
        return "=?base64?" + base64.b64encode(text.encode("utf-8")).decode() + "?="


def _sse_messages(body: bytes):
    """The JSON payloads of a text/event-stream body (one per event)."""
    data_lines: list[str] = []
    for raw in body.decode("utf-8", "replace").splitlines() + [""]:
        if raw == "":
            if data_lines:
                try:
                    yield json.loads("\n".join(data_lines))
                except ValueError:
                    pass
                data_lines = []
        elif raw.startswith("data:"):
            v = raw[5:]
            data_lines.append(v[1:] if v.startswith(" ") else v)


PROBLEM_TYPE_PREFIX = "urn:atlas:error:"


def http_error(status: int, body: bytes) -> AtlasError:
    """The :class:`AtlasError` for an HTTP error answer: an RFC 9457
    problem (atlasd's; with or without an OpenAI-style ``error`` member), a
    JSON-RPC or OpenAI ``{"error": {...}}``, or plain text."""
    fallback = f"http-{status}"
    try:
        doc = json.loads(body)
    except ValueError:
        text = body.decode("utf-8", "replace").strip()
        return AtlasError(fallback, text[:500] or f"HTTP {status}", None, status=status)
    if isinstance(doc, dict):
        ptype = doc.get("type")
        title, detail = doc.get("title"), doc.get("detail")
        if isinstance(ptype, str) and ptype and (isinstance(title, str) or isinstance(detail, str)):
            # RFC 9457 section 3; "about:blank" says no more than the status
            code = doc.get("code") if isinstance(doc.get("code"), str) and doc.get("code") else None
            if code is None:
                if ptype.startswith(PROBLEM_TYPE_PREFIX) and len(ptype) > len(PROBLEM_TYPE_PREFIX):
                    code = ptype[len(PROBLEM_TYPE_PREFIX):]
                elif ptype == "about:blank":
                    code = fallback
                else:
                    code = ptype
            msg = detail if isinstance(detail, str) and detail else title
            return AtlasError(code, str(msg or f"HTTP {status}"), doc, status=status, type=ptype,
                              title=title if isinstance(title, str) else None,
                              detail=detail if isinstance(detail, str) else None)
        err = doc.get("error")
        if isinstance(err, dict):  # JSON-RPC error, or OpenAI-style {"error": {...}}
            code = err.get("code")
            if code is None or code == "":
                code = err.get("type") or fallback
            return AtlasError(code, str(err.get("message", "")) or f"HTTP {status}",
                              err.get("data"), status=status)
    return AtlasError(fallback, f"HTTP {status}", doc, status=status)


def mcp_call_tool(url: str, token: str | None, name: str, arguments: dict,
                  meta: dict | None = None, timeout: float | None = None,
                  result_meta: dict | None = None) -> Any:
    """Call tool ``name`` on the MCP server at ``url`` (2026-07-28, stateless).

    Returns the result's ``structuredContent`` (or, without it, the first text
    content parsed as JSON, else the text).  Raises :class:`AtlasError` on a
    JSON-RPC error, an ``isError`` result or a transport failure.  When
    ``result_meta`` is a dict, the result's ``_meta`` is copied into it
    (``io.atlas/jobId``: the job a spawn ran).
    """
    rid = next(_ids)
    envelope = {
        META_PROTOCOL_VERSION: MODERN_VERSION,
        META_CLIENT_INFO: {"name": "atlas-sdk-python", "version": SDK_VERSION},
        META_CLIENT_CAPABILITIES: {},
    }
    if meta:
        envelope.update(meta)
    msg = {"jsonrpc": "2.0", "id": rid, "method": "tools/call",
           "params": {"name": name, "arguments": arguments, "_meta": envelope}}
    body = json.dumps(msg, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": MODERN_VERSION,
        "Mcp-Method": "tools/call",
        "Mcp-Name": _header_value(name),
    }
    if token:
        headers["Authorization"] = f"Bearer {token}"
    status, ctype, data = http_post(url, body, headers, timeout)

    response = None
    if "text/event-stream" in ctype:
        for m in _sse_messages(data):
            if isinstance(m, dict) and m.get("id") == rid and ("result" in m or "error" in m):
                response = m
                break
    else:
        try:
            doc = json.loads(data) if data else None
        except ValueError:
            doc = None
        if isinstance(doc, dict) and ("result" in doc or "error" in doc):
            response = doc
    if response is None:
        if status >= 400:
            raise http_error(status, data)
        raise AtlasError("protocol-error", f"no JSON-RPC response to {name} (HTTP {status})")

    if "error" in response:
        err = response["error"] if isinstance(response["error"], dict) else {}
        raise AtlasError(err.get("code", "error"), str(err.get("message", "error")), err.get("data"))
    result = response.get("result")
    if not isinstance(result, dict):
        raise AtlasError("protocol-error", f"malformed result from {name}")
    text = None
    for item in result.get("content") or ():
        if isinstance(item, dict) and item.get("type") == "text":
            text = item.get("text")
            break
    sc = result.get("structuredContent")
    if result_meta is not None and isinstance(result.get("_meta"), dict):
        result_meta.update(result["_meta"])
    if result.get("isError"):
        code = "tool-error"
        if isinstance(sc, dict) and isinstance(sc.get("code"), (str, int)):
            code = sc["code"]
        raise AtlasError(code, text or (sc.get("message") if isinstance(sc, dict) else None)
                         or f"{name} failed", sc)
    if sc is not None:
        return sc
    if text is not None:
        try:
            return json.loads(text)
        except ValueError:
            return text
    return None


# -- the model gateway (OpenAI-compatible) ------------------------------------

# Members of the gateway's metadata (resp["atlas"]) that are always present.
ATLAS_META_KEYS = ("model", "backend", "tier", "reason")
# A streamed line longer than this is refused (a chunk is a few hundred bytes).
MAX_STREAM_LINE = 16 * 1024 * 1024


def _connect(url: str, timeout: float | None):
    """(connection, request path, extra headers) for ``url``."""
    parts = urllib.parse.urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    if parts.scheme == "http+unix":
        conn = _UnixHTTPConnection(urllib.parse.unquote(parts.netloc), timeout)
        return conn, path, {"Host": "localhost"}
    if parts.scheme == "http":
        return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout), path, {}
    if parts.scheme == "https":
        return http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout), path, {}
    raise AtlasError("bad-url", f"unsupported URL scheme in {url!r}")


def _gateway_request(base_url: str, api_key: str | None, body: dict, stream: bool,
                     timeout: float | None):
    """POST to ``{base_url}/chat/completions``; return (connection, response)
    for a 2xx answer, raise :class:`AtlasError` otherwise."""
    url = base_url.rstrip("/") + "/chat/completions"
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json",
               "Accept": "text/event-stream" if stream else "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    conn, path, extra = _connect(url, timeout)
    try:
        conn.request("POST", path, body=data, headers={**headers, **extra})
        resp = conn.getresponse()
        if resp.status >= 400:
            raise http_error(resp.status, _bounded(resp.read(MAX_RESPONSE_BYTES + 1)))
        return conn, resp
    except AtlasError:
        conn.close()
        raise
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        raise AtlasError("unreachable", f"cannot reach {url}: {exc}") from None


def _atlas_meta(doc: dict, headers=None) -> dict:
    """``doc["atlas"]`` with model, backend, tier and reason always present:
    the gateway's member, else its ``Atlas-*`` headers, else the response's
    own ``model`` (another OpenAI-compatible server)."""
    meta = doc.get("atlas")
    meta = dict(meta) if isinstance(meta, dict) else {}
    if headers is not None:
        for key in ("model", "backend", "tier"):
            if meta.get(key) is None and headers.get("Atlas-" + key.capitalize()):
                meta[key] = headers.get("Atlas-" + key.capitalize())
    if meta.get("model") is None and isinstance(doc.get("model"), str):
        meta["model"] = doc["model"]
    for key in ATLAS_META_KEYS:
        meta.setdefault(key, None)
    return meta


def chat_completions(base_url: str, api_key: str | None, body: dict,
                     timeout: float | None = None) -> dict:
    """POST ``body`` to ``{base_url}/chat/completions``; return the parsed
    response with ``resp["atlas"]`` filled in (see :func:`_atlas_meta`).

    An HTTP error raises :class:`AtlasError` (see :func:`http_error`): 429
    ``limit-exceeded`` (the chain's token budget, or every candidate
    rate-limited), 501 ``not-available`` (no model configured), ..."""
    conn, resp = _gateway_request(base_url, api_key, body, False, timeout)
    try:
        raw = _bounded(resp.read(MAX_RESPONSE_BYTES + 1))
    except (OSError, http.client.HTTPException) as exc:
        raise AtlasError("unreachable", f"the model gateway's answer broke off: {exc}") from None
    finally:
        conn.close()
    try:
        doc = json.loads(raw)
    except ValueError:
        raise AtlasError("protocol-error", "the model gateway did not answer JSON") from None
    if not isinstance(doc, dict):
        raise AtlasError("protocol-error", "the model gateway answered a non-object")
    doc["atlas"] = _atlas_meta(doc, resp.headers)
    return doc


class ChatStream:
    """A streamed chat completion, read with blocking calls (the
    :class:`atlas.AgentContext` wrapper runs them in a worker thread).

    ``next_chunk()`` returns the next ``chat.completion.chunk`` dict, or None
    at the end.  An error event in the stream raises :class:`AtlasError`.
    Along the way it keeps ``atlas`` (the gateway's metadata: model, backend,
    tier and reason from the first chunk, then attempts, usage, cost and
    latency from the closing ``: atlas {...}`` comment), ``text`` (the reply
    so far), ``finish_reason`` and ``usage`` (a usage chunk's, else the
    gateway's count).  ``close()`` hangs up (the gateway then cancels the
    call)."""

    def __init__(self, conn, resp):
        self._conn = conn
        self._resp = resp
        self._done = False
        self._json_doc = None
        self._primed = False
        self._first = None
        ctype = resp.headers.get("Content-Type", "")
        if "text/event-stream" not in ctype:
            # A server that ignored "stream": one completion, turned into one chunk.
            try:
                doc = json.loads(_bounded(resp.read(MAX_RESPONSE_BYTES + 1)))
            except ValueError:
                self.close()
                raise AtlasError("protocol-error",
                                 "the model gateway answered neither a stream nor JSON") from None
            self.close()
            self._json_doc = doc if isinstance(doc, dict) else {}
        self.atlas = _atlas_meta({}, resp.headers)
        self.text = ""
        self.finish_reason = None
        self.usage = None

    def _absorb(self, chunk: dict) -> None:
        meta = chunk.get("atlas")
        if isinstance(meta, dict):
            self.atlas.update({k: v for k, v in meta.items() if v is not None})
        if self.atlas.get("model") is None and isinstance(chunk.get("model"), str):
            self.atlas["model"] = chunk["model"]
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or choice.get("message") or {}
            if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                self.text += delta["content"]
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]

    def _closing_comment(self, text: str) -> None:
        try:
            meta = json.loads(text)
        except ValueError:
            return
        if isinstance(meta, dict):
            self.atlas.update({k: v for k, v in meta.items() if v is not None})
            if self.usage is None and isinstance(meta.get("usage"), dict):
                self.usage = meta["usage"]

    def _readline(self) -> bytes:
        try:
            line = self._resp.readline(MAX_STREAM_LINE + 1)
        except (OSError, ValueError, http.client.HTTPException) as exc:
            if self._done:
                return b""
            raise AtlasError("unreachable", f"the model stream broke off: {exc}") from None
        if len(line) > MAX_STREAM_LINE:
            raise AtlasError("too-large", f"a stream line longer than {MAX_STREAM_LINE} bytes")
        return line

    def prime(self) -> None:
        """Read the first chunk now (it is handed out first), so that
        ``atlas`` names the model that answers and an error before any
        output raises here."""
        self._first = self.next_chunk()
        self._primed = True

    def next_chunk(self) -> dict | None:
        if self._primed:
            self._primed = False
            return self._first
        if self._json_doc is not None:
            doc, self._json_doc = self._json_doc, None
            self._done = True
            chunk = {**doc, "object": "chat.completion.chunk"}
            chunk["choices"] = [{**c, "delta": c.get("message") or {}}
                                for c in doc.get("choices") or () if isinstance(c, dict)]
            self._absorb(chunk)
            return chunk
        if self._done:
            return None
        data: list[str] = []
        while True:  # WHATWG server-sent events: data lines up to a blank line
            raw = self._readline()
            if not raw:  # the connection ended
                self.close()
                if data:
                    break
                raise AtlasError("unreachable", "the model stream ended before [DONE]")
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line == "":
                if data:
                    break
                continue
            if line.startswith(":"):
                comment = line[1:].lstrip()
                if comment.startswith("atlas "):
                    self._closing_comment(comment[6:])
                continue
            if line.startswith("data:"):
                v = line[5:]
                data.append(v[1:] if v.startswith(" ") else v)
        payload = "\n".join(data)
        if payload.strip() == "[DONE]":
            self.close()
            return None
        try:
            chunk = json.loads(payload)
        except ValueError:
            self.close()
            raise AtlasError("protocol-error",
                             "the model stream sent an event that is not JSON") from None
        if not isinstance(chunk, dict):
            return self.next_chunk()
        err = chunk.get("error")
        if err is not None:
            self.close()
            err = err if isinstance(err, dict) else {"message": str(err)}
            raise AtlasError(err.get("code") or err.get("type") or "stream-error",
                             str(err.get("message") or "the model stream failed"), err)
        self._absorb(chunk)
        return chunk

    def close(self) -> None:
        """Hang up; safe to call from another thread, and more than once."""
        self._done = True
        sock = getattr(self._conn, "sock", None)
        if sock is not None:
            try:  # wakes a reader blocked in recv() in another thread
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._conn.close()

    def __iter__(self):
        while True:
            chunk = self.next_chunk()
            if chunk is None:
                return
            yield chunk


def chat_completions_stream(base_url: str, api_key: str | None, body: dict,
                            timeout: float | None = None) -> ChatStream:
    """POST ``body`` (with ``"stream": true``) and return a :class:`ChatStream`
    once the first chunk has come (so ``atlas`` already names the model).
    Refusals (budget, no model, bad request) and an error before the first
    chunk raise :class:`AtlasError` here, as in :func:`chat_completions`.
    ``timeout`` bounds each wait for data, not the whole stream."""
    conn, resp = _gateway_request(base_url, api_key, {**body, "stream": True}, True, timeout)
    stream = ChatStream(conn, resp)
    try:
        stream.prime()
    except BaseException:
        stream.close()
        raise
    return stream
