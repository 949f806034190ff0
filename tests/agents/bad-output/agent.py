"""Fixture: returns {"count": "not a number"} against an integer schema."""

from atlas import AgentBase, AgentContext


class BadOutputAgent(AgentBase):
    validate_output = False  # let the runtime see the bad output

    async def execute(self, input: dict, context: AgentContext) -> dict:
        return {"count": "not a number"}
