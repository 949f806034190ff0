"""A small MCP stdio client for driving agent processes in tests.

It speaks both revisions the runtime speaks (docs/agent-protocol.md):
2026-07-28 (``server/discover`` then a ``_meta`` envelope on every request)
and 2025-11-25 (``initialize`` + ``notifications/initialized``).  It starts an
agent the way atlasd would: the ``entrypoint`` of its agent.yaml, else
``python3 -m atlas.runner agent.py`` with the SDK on PYTHONPATH.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.environ.get("ATLAS_SRC_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
SDK = os.path.join(REPO, "sdk", "python")
FIXTURES = os.path.join(REPO, "tests", "agents")
EXAMPLES = os.path.join(REPO, "examples", "agents")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

if SDK not in sys.path:
    sys.path.insert(0, SDK)

from atlas import miniyaml  # noqa: E402

MODERN = "2026-07-28"
LEGACY = "2025-11-25"
PV = "io.modelcontextprotocol/protocolVersion"
ENVELOPE = {
    PV: MODERN,
    "io.modelcontextprotocol/clientInfo": {"name": "atlas-tests", "version": "0.1.0"},
    "io.modelcontextprotocol/clientCapabilities": {},
}
_EOF = object()


def agent_argv(agent_dir: str) -> list[str]:
    """How atlasd would start the agent in ``agent_dir``."""
    doc = miniyaml.load(os.path.join(agent_dir, "agent.yaml"))
    entry = doc["agent"].get("entrypoint")
    if entry:
        return [PYTHON if a == "python3" and i == 0 else a for i, a in enumerate(entry)]
    return [PYTHON, "-m", "atlas.runner", "agent.py"]


def base_env(extra: dict | None = None) -> dict:
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")
           if k in os.environ}
    env["PYTHONPATH"] = SDK
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if extra:
        env.update(extra)
    return env


class ProtocolError(AssertionError):
    pass


class Agent:
    """One agent process.  Use as a context manager (kills on exit)."""

    def __init__(self, agent_dir: str, *, argv: list[str] | None = None,
                 env: dict | None = None, max_line: int = 64 * 1024 * 1024):
        self.dir = agent_dir
        self.argv = argv or agent_argv(agent_dir)
        self.proc = subprocess.Popen(self.argv, cwd=agent_dir, env=base_env(env),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True)
        self.max_line = max_line
        self.lines: queue.Queue = queue.Queue()
        self._stderr = bytearray()
        self.notifications: list[dict] = []
        self.modern: bool | None = None
        self._next_id = 0
        threading.Thread(target=self._read_stdout, daemon=True).start()
        self._stderr_reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._stderr_reader.start()

    # -- plumbing ---------------------------------------------------------
    def _read_stdout(self):
        f = self.proc.stdout
        while True:
            try:
                line = f.readline(self.max_line + 1)
            except (ValueError, OSError):  # closed by kill()
                line = b""
            if not line:
                self.lines.put(_EOF)
                return
            self.lines.put(line)

    def _read_stderr(self):
        while True:
            try:
                chunk = self.proc.stderr.read1(65536)
            except (ValueError, OSError):  # closed by kill()
                return
            if not chunk:
                return
            if len(self._stderr) < 4 * 1024 * 1024:
                self._stderr += chunk

    @property
    def stderr(self) -> str:
        """What the agent wrote to stderr so far (all of it once it exited)."""
        if self.proc.poll() is not None:
            self._stderr_reader.join(2)
        return self._stderr.decode("utf-8", "replace")

    def wait_stderr(self, text: str, timeout: float = 10) -> bool:
        """Wait until ``text`` shows up on stderr (read by another thread)."""
        deadline = time.monotonic() + timeout
        while text not in self.stderr:
            if time.monotonic() > deadline or (self.proc.poll() is not None
                                               and not self._stderr_reader.is_alive()):
                return text in self.stderr
            time.sleep(0.02)
        return True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass

    def send_raw(self, data: bytes):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, msg: dict):
        self.send_raw((json.dumps(msg) + "\n").encode())

    def recv_raw(self, timeout: float = 10) -> bytes | None:
        """The next stdout line (None at EOF)."""
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no output from {self.argv} in {timeout}s; "
                               f"stderr:\n{self.stderr[-2000:]}") from None
        return None if line is _EOF else line

    def recv(self, timeout: float = 10) -> dict | None:
        """The next message (None at EOF); non-JSON output fails the test."""
        line = self.recv_raw(timeout)
        if line is None:
            return None
        try:
            return json.loads(line)
        except ValueError:
            raise ProtocolError(f"not JSON on stdout: {line[:200]!r}") from None

    def next_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def wait_response(self, rid, timeout: float = 10) -> dict:
        """Read until the response to ``rid``; notifications are kept."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no response to {rid}; stderr:\n{self.stderr[-2000:]}")
            msg = self.recv(left)
            if msg is None:
                raise ProtocolError(f"EOF before the response to {rid}; "
                                    f"stderr:\n{self.stderr[-2000:]}")
            if "method" in msg and "id" not in msg:
                self.notifications.append(msg)
                continue
            if msg.get("id") == rid:
                return msg
            raise ProtocolError(f"unexpected message {msg}")

    # -- requests ---------------------------------------------------------
    def request(self, method: str, params: dict | None = None, *, envelope: bool | None = None,
                timeout: float = 10) -> dict:
        """Send a request; return the whole response message.  The 2026-07-28
        envelope is added when the session is modern (or ``envelope=True``)."""
        params = dict(params or {})
        if envelope or (envelope is None and self.modern):
            meta = dict(params.get("_meta") or {})
            for k, v in ENVELOPE.items():
                meta.setdefault(k, v)
            params["_meta"] = meta
        rid = self.next_id()
        self.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        return self.wait_response(rid, timeout)

    def notify(self, method: str, params: dict | None = None):
        msg: dict = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)

    def discover(self, timeout: float = 30) -> dict:
        return self.request("server/discover", envelope=True, timeout=timeout)

    def initialize(self, version: str = LEGACY, timeout: float = 30) -> dict:
        resp = self.request("initialize", {"protocolVersion": version, "capabilities": {},
                                           "clientInfo": {"name": "atlas-tests",
                                                          "version": "0.1.0"}},
                            envelope=False, timeout=timeout)
        if "result" in resp:
            self.notify("notifications/initialized")
        return resp

    def handshake(self, timeout: float = 30) -> str:
        """What atlasd does: discover, else initialize.  Returns the revision."""
        resp = self.discover(timeout)
        if MODERN in (resp.get("result") or {}).get("supportedVersions", ()):
            self.modern = True
            return MODERN
        resp = self.initialize(timeout=timeout)
        if "result" not in resp:
            raise ProtocolError(f"initialize failed: {resp}")
        self.modern = False
        return resp["result"]["protocolVersion"]

    def tools(self) -> list:
        resp = self.request("tools/list")
        return resp["result"]["tools"]

    def call(self, arguments: dict, *, name: str | None = None, meta: dict | None = None,
             timeout: float = 30) -> dict:
        """tools/call the agent's tool; return the whole response message."""
        if name is None:
            name = os.path.basename(self.dir)
        params = {"name": name, "arguments": arguments}
        if meta:
            params["_meta"] = meta
        return self.request("tools/call", params, timeout=timeout)

    def close(self, timeout: float = 10) -> int:
        """Close stdin (the shutdown signal); return the exit status."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
