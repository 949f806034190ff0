"""Fixture for the model gateway's tests: makes `calls` chat completions
through $OPENAI_BASE_URL with $OPENAI_API_KEY (the job's token), as any
OpenAI client would, and reports what came back; then it spawns the
children listed in `spawn_after` ([{agent, input}]) one after another and
reports whether the tree's token budget let each start."""

import json
import os
import urllib.error
import urllib.request

from atlas import AgentBase, AgentContext, AtlasError


def chat(model, prompt):
    body = {"messages": [{"role": "user", "content": prompt}]}
    if model:
        body["model"] = model
    req = urllib.request.Request(
        os.environ["OPENAI_BASE_URL"] + "/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json",
                 "Authorization": "Bearer " + os.environ["OPENAI_API_KEY"]})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


class LlmCaller(AgentBase):
    async def execute(self, input: dict, context: AgentContext) -> dict:
        out = {"statuses": [], "models": [], "tiers": [], "reasons": [], "errors": [],
               "problems": [], "usage": []}
        for _ in range(int(input.get("calls", 1))):
            status, doc = chat(input.get("model"), input.get("prompt", "Say something."))
            out["statuses"].append(status)
            meta = doc.get("atlas") or {}
            out["models"].append(meta.get("model", ""))
            out["tiers"].append(meta.get("tier", ""))
            out["reasons"].append(meta.get("reason", ""))
            out["errors"].append((doc.get("error") or {}).get("message", ""))
            # what names the error: the problem's type and status, the OpenAI code
            out["problems"].append([doc.get("type"), doc.get("status"),
                                    (doc.get("error") or {}).get("code")])
            out["usage"].append(doc.get("usage"))
            if status != 200:
                break
        out["spawns"] = []
        for child in input.get("spawn_after", []):  # children after the calls: the tree's budget
            try:
                await context.spawn(child["agent"], child.get("input", {}))
                out["spawns"].append("ok")
            except AtlasError as e:
                out["spawns"].append(str(e))
        return out
