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
    int) for a protocol error, or ``"http-<status>"`` for a transport error.
    ``data`` holds whatever detail came with it.
    """

    def __init__(self, code: Any, message: str, data: Any = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.data = data


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


def _problem_message(body: bytes, status: int) -> tuple:
    """(code, message, data) from an error body: JSON-RPC error,
    RFC 9457 problem+json, or plain text."""
    try:
        doc = json.loads(body)
    except ValueError:
        text = body.decode("utf-8", "replace").strip()
        return f"http-{status}", text[:500] or f"HTTP {status}", None
    if isinstance(doc, dict):
        err = doc.get("error")
        if isinstance(err, dict):  # JSON-RPC error, or OpenAI-style {"error": {...}}
            code = err.get("code")
            if code is None or code == "":
                code = err.get("type") or f"http-{status}"
            return code, str(err.get("message", "")) or f"HTTP {status}", err.get("data")
        if "title" in doc or "detail" in doc:  # RFC 9457
            code = doc.get("code") or doc.get("type") or f"http-{status}"
            msg = doc.get("detail") or doc.get("title") or f"HTTP {status}"
            return code, str(msg), doc
    return f"http-{status}", f"HTTP {status}", doc


def mcp_call_tool(url: str, token: str | None, name: str, arguments: dict,
                  meta: dict | None = None, timeout: float | None = None) -> Any:
    """Call tool ``name`` on the MCP server at ``url`` (2026-07-28, stateless).

    Returns the result's ``structuredContent`` (or, without it, the first text
    content parsed as JSON, else the text).  Raises :class:`AtlasError` on a
    JSON-RPC error, an ``isError`` result or a transport failure.
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
            raise AtlasError(*_problem_message(data, status))
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


def chat_completions(base_url: str, api_key: str | None, body: dict,
                     timeout: float | None = None) -> dict:
    """POST ``body`` to ``{base_url}/chat/completions``; return the parsed JSON."""
    url = base_url.rstrip("/") + "/chat/completions"
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    status, _, raw = http_post(url, data, headers, timeout)
    if status >= 400:
        raise AtlasError(*_problem_message(raw, status))
    try:
        doc = json.loads(raw)
    except ValueError:
        raise AtlasError("protocol-error", "the model gateway did not answer JSON") from None
    if not isinstance(doc, dict):
        raise AtlasError("protocol-error", "the model gateway answered a non-object")
    return doc
