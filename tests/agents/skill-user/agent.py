"""Fixture: each of input["calls"] is {skill, input}; the answers in order."""

from atlas import AgentBase, AgentContext
from atlas.platform import AtlasError


class SkillUser(AgentBase):
    async def execute(self, input: dict, context: AgentContext) -> dict:
        results = []
        for call in input["calls"]:
            try:
                out = await context.skill(call["skill"], call.get("input", {}))
                results.append({"ok": True, "output": out})
            except AtlasError as e:
                results.append({"ok": False, "code": e.code, "message": e.message})
        return {"results": results, "job_id": context.job_id}
