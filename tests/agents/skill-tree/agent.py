"""Fixture: spawns skill-user once per input["children"] entry, in order.

In a child's calls, "@ROOT@" stands for this job's id (the tree's root)
and "@PREV@" for the previous child's job id."""

import json

from atlas import AgentBase, AgentContext


class SkillTree(AgentBase):
    async def execute(self, input: dict, context: AgentContext) -> dict:
        kids, prev = [], ""
        for calls in input["children"]:
            text = json.dumps(calls).replace("@ROOT@", context.job_id or "")
            text = text.replace("@PREV@", prev)
            out = await context.spawn("skill-user", {"calls": json.loads(text)})
            prev = out.get("job_id") or ""
            kids.append(out)
        return {"job_id": context.job_id, "children": kids}
