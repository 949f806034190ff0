"""A remote A2A agent as an Atlas agent (docs/a2a.md "Consuming").

`atlas register --a2a URL --name N` writes an agent directory whose agent.py
subclasses ``A2ABridge`` and whose a2a.json says where the remote agent is:

    {"url": JSON-RPC endpoint, "version": "1.0" | "0.3", "skill": ID | null,
     "token_env": NAME | null}

Each run sends the input as one data part (SendMessage, returning at once),
then polls the task (GetTask) until it is terminal, reporting its state as
progress; the output is the first data part of the task's artifacts (or
{"text": ...} when they hold text only).  A failed, rejected or canceled
task is an error naming the remote's message.  A task that asks for input
(input-required) becomes the job's question to its caller
(``context.elicit``: the job shows meta.input_required until answered);
the answer goes back to the remote as a message continuing the task
(taskId, contextId), at most MAX_ROUNDS times.  auth-required is an error
(not supported yet).  When Atlas cancels the job, the remote task is
cancelled (CancelTask).  Standard library only: the bridge runs in the agent sandbox
with requires.network: egress.
"""

import asyncio
import json
import os
import urllib.error
import urllib.request
import uuid

from .agent import AgentBase, AgentContext

_V10 = {
    "send": "SendMessage",
    "get": "GetTask",
    "cancel": "CancelTask",
}
_V03 = {
    "send": "message/send",
    "get": "tasks/get",
    "cancel": "tasks/cancel",
}
_TERMINAL_OK = {"TASK_STATE_COMPLETED", "completed"}
_TERMINAL_BAD = {
    "TASK_STATE_FAILED", "failed", "TASK_STATE_CANCELED", "canceled",
    "TASK_STATE_REJECTED", "rejected",
}
_INPUT = {"TASK_STATE_INPUT_REQUIRED", "input-required"}
_AUTH = {"TASK_STATE_AUTH_REQUIRED", "auth-required"}
MAX_ROUNDS = 8


class A2AError(RuntimeError):
    pass


class A2ABridge(AgentBase):
    """Forwards each run to the A2A agent a2a.json (beside agent.py) names."""

    poll_s = 0.1

    def _config(self) -> dict:
        if not hasattr(self, "_cfg"):
            here = os.environ.get("ATLAS_AGENT_DIR") or os.getcwd()
            with open(os.path.join(here, "a2a.json"), encoding="utf-8") as f:
                self._cfg = json.load(f)
        return self._cfg

    def _rpc(self, method: str, params: dict) -> dict:
        cfg = self._config()
        body = json.dumps({"jsonrpc": "2.0", "id": str(uuid.uuid4()), "method": method,
                           "params": params}).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   "A2A-Version": cfg.get("version") or "1.0"}
        if cfg.get("token_env") and os.environ.get(cfg["token_env"]):
            headers["Authorization"] = "Bearer " + os.environ[cfg["token_env"]]
        req = urllib.request.Request(cfg["url"], data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                answer = json.loads(r.read().decode())
        except urllib.error.HTTPError as e:
            text = e.read().decode(errors="replace")[:300]
            raise A2AError(f"the A2A agent answered HTTP {e.code}: {text}") from None
        except urllib.error.URLError as e:
            raise A2AError(f"cannot reach the A2A agent at {cfg['url']}: {e.reason}") from None
        if "error" in answer:
            err = answer["error"] or {}
            raise A2AError(f"the A2A agent refused {method}: {err.get('message')} "
                           f"(code {err.get('code')})")
        return answer.get("result") or {}

    def _names(self) -> dict:
        return _V03 if self._config().get("version") == "0.3" else _V10

    def _v03(self) -> bool:
        return self._config().get("version") == "0.3"

    @staticmethod
    def _text_of(message) -> str:
        parts = (message or {}).get("parts") or []
        return " ".join(p.get("text", "") for p in parts if isinstance(p, dict) and "text" in p)

    @staticmethod
    def _output(task: dict) -> dict:
        texts = []
        for art in task.get("artifacts") or []:
            for p in art.get("parts") or []:
                if isinstance(p.get("data"), dict):
                    return p["data"]
                if "text" in p:
                    texts.append(p["text"])
        if texts:
            return {"text": "\n".join(texts)}
        return {}

    def _send_params(self, data: dict, task: dict | None = None) -> dict:
        cfg = self._config()
        v03 = self._v03()
        part = {"data": data}
        if v03:
            part["kind"] = "data"
        message = {"messageId": str(uuid.uuid4()), "role": "user" if v03 else "ROLE_USER",
                   "parts": [part]}
        if v03:
            message["kind"] = "message"
        if task is not None:  # continuing the task: the answer to its question
            message["taskId"] = task["id"]
            if task.get("contextId"):
                message["contextId"] = task["contextId"]
        if cfg.get("skill"):
            message["metadata"] = {"skill": cfg["skill"], "atlas.agent": cfg["skill"]}
        return {"message": message,
                "configuration": {"blocking": False} if v03 else {"returnImmediately": True}}

    async def execute(self, input: dict, context: AgentContext) -> dict:
        v03 = self._v03()
        names = self._names()
        result = await asyncio.to_thread(self._rpc, names["send"], self._send_params(input))
        task = result if v03 else result.get("task")
        if task is None:
            # the agent answered with a message, not a task: that is the answer
            msg = result.get("message", result)
            for p in msg.get("parts") or []:
                if isinstance(p.get("data"), dict):
                    return p["data"]
            return {"text": self._text_of(msg)}
        tid = task["id"]
        last, step, rounds = None, 0, 0
        answered = None  # the status of the question last answered (it may linger)
        try:
            while True:
                state = (task.get("status") or {}).get("state", "")
                if state != last:
                    step += 1
                    context.progress(step, None, f"remote task {tid}: {state}")
                    last = state
                if state in _TERMINAL_OK:
                    return self._output(task)
                if state in _TERMINAL_BAD:
                    why = self._text_of((task.get("status") or {}).get("message"))
                    raise A2AError(f"the A2A task {tid} ended {state}" + (f": {why}" if why else ""))
                if state in _AUTH:
                    raise A2AError(f"the A2A task {tid} asks for authentication ({state}): "
                                   "answering it is not supported yet")
                if state in _INPUT and json.dumps(task.get("status"), sort_keys=True) != answered:
                    rounds += 1
                    if rounds > MAX_ROUNDS:
                        raise A2AError(f"the A2A task {tid} still asks for input after "
                                       f"{MAX_ROUNDS} answers: given up")
                    question = self._text_of((task.get("status") or {}).get("message")) or \
                        f"the remote A2A task {tid} asks for input"
                    answer = await context.elicit(question, {"type": "object"})
                    if answer.get("action") != "accept":
                        try:
                            await asyncio.to_thread(self._rpc, names["cancel"], {"id": tid})
                        except A2AError:
                            pass  # the job fails either way, saying why below
                        raise A2AError(f"the caller did not answer the A2A task {tid}'s "
                                       f"question ({answer.get('action')}): cancelled")
                    answered = json.dumps(task.get("status"), sort_keys=True)
                    content = answer.get("content")
                    result = await asyncio.to_thread(
                        self._rpc, names["send"],
                        self._send_params(content if isinstance(content, dict) else {}, task))
                    task = (result if v03 else result.get("task")) or task
                    continue
                await asyncio.sleep(self.poll_s)
                task = await asyncio.to_thread(self._rpc, names["get"], {"id": tid})
        except asyncio.CancelledError:
            try:
                await asyncio.to_thread(self._rpc, names["cancel"], {"id": tid})
            except A2AError:
                pass
            raise
