"""The front door: find an agent for the user's message, spawn it, answer.

Routing, in order: "@name ..." or "name: ..." names the agent; otherwise
each word of the message is searched in the registry (atlas.registry.search)
and the agent with the most hits wins.  The chosen agent's input schema
says where the text goes (its first required string property, else "text"
or "message").  Conversation memory: the last turns per user in the
memory skill ("history" lists them).  A model, when the gateway has one,
phrases the answer and its tokens stream out as progress messages.
"""
import json
import re

from atlas import AgentBase, AgentContext
from atlas.platform import AtlasError

SELF = "front-door"
MAX_TURNS = 20


def _words(text: str) -> list[str]:
    seen = []
    for w in re.findall(r"[a-z][a-z0-9-]{3,}", text.lower()):
        if w not in seen:
            seen.append(w)
    return seen[:12]


def _slot(schema: dict) -> str:
    props = (schema or {}).get("properties") or {}
    for name in (schema or {}).get("required") or []:
        if (props.get(name) or {}).get("type") == "string":
            return name
    for name in ("text", "message", "query", "question", "topic", "url"):
        if name in props:
            return name
    return "text"


class FrontDoor(AgentBase):
    async def execute(self, input: dict, context: AgentContext) -> dict:
        message = input["message"].strip()
        user = input.get("user_id") or ""
        step = 0

        def say(text: str) -> None:
            nonlocal step
            step += 1
            context.progress(step, None, text)

        turns = await self._recall(context, user)
        if message.lower() in ("history", "what did i say?"):
            said = [t["user"] for t in turns] or ["(nothing yet)"]
            return await self._answer(context, user, turns, message,
                                      "You said: " + " | ".join(said), None, None)

        agent, payload = await self._choose(context, message, say)
        if agent is None:
            listed = await context.call_tool("atlas.registry.list", {})
            names = sorted({a["name"] for a in listed.get("agents", []) if a["name"] != SELF})
            reply = ("Hello! I could not find an agent for that. Ask with @NAME, one of: "
                     + ", ".join(names)) if names else "Hello! No agents are registered yet."
            return await self._answer(context, user, turns, message, reply, None, None)

        desc = await context.call_tool("atlas.registry.describe", {"agent": agent})
        slot = _slot(desc.get("input_schema") or {})
        say(f"asking {agent}")
        output = await context.spawn(agent, {slot: payload})
        reply = await self._phrase(context, message, agent, output, say)
        return await self._answer(context, user, turns, message, reply, agent, output)

    async def _choose(self, context, message, say):
        m = re.match(r"^@([A-Za-z0-9._-]+)\s*(.*)$", message, re.S) or \
            re.match(r"^([A-Za-z0-9._-]+):\s*(.*)$", message, re.S)
        if m:
            found = await context.call_tool("atlas.registry.list", {"name": m.group(1)})
            if found.get("agents"):
                return m.group(1), m.group(2) or message
        say("searching the registry")
        score: dict[str, int] = {}
        for w in _words(message):
            res = await context.call_tool("atlas.registry.search", {"query": w})
            for a in res.get("agents", []):
                if a["name"] == SELF or a.get("type") in ("orchestrator", "conversational"):
                    continue
                score[a["name"]] = score.get(a["name"], 0) + 1
        if not score:
            return None, None
        best = sorted(score.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
        return best, message

    async def _phrase(self, context, message, agent, output, say) -> str:
        plain = f"{agent} says: {json.dumps(output, sort_keys=True)}"
        try:
            stream = await context.llm(
                [{"role": "system", "content": "Answer the user in one or two sentences "
                  "from the agent's result."},
                 {"role": "user", "content": f"{message}\n\nResult of {agent}: "
                  f"{json.dumps(output)}"}], stream=True, timeout=30)
        except AtlasError:
            return plain  # no model configured (or it refused): the plain answer
        async for chunk in stream:
            for c in chunk.get("choices") or []:
                piece = (c.get("delta") or {}).get("content")
                if piece:
                    say(piece)  # token streaming: each piece is a progress message
        return stream.text or plain

    async def _recall(self, context, user) -> list:
        try:
            got = await context.skill("memory", {"op": "get", "conversation": user,
                                                 "key": "turns"})
        except AtlasError:
            return []
        if not got.get("found"):
            return []
        try:
            v = got.get("value")
            turns = json.loads(v) if isinstance(v, str) else v
            return turns if isinstance(turns, list) else []
        except ValueError:
            return []

    async def _answer(self, context, user, turns, message, reply, agent, output) -> dict:
        turns = (turns + [{"user": message, "reply": reply}])[-MAX_TURNS:]
        try:
            await context.skill("memory", {"op": "put", "conversation": user, "key": "turns",
                                           "value": json.dumps(turns)})
        except AtlasError:
            pass  # memory is best effort: the answer still goes out
        out = {"reply": reply, "agent": agent, "turns": len(turns)}
        if output is not None:
            out["output"] = output
        return out
