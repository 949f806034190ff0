"""Fixture: execute() raises ValueError(input.message)."""

from atlas import AgentBase, AgentContext


class RaiseAgent(AgentBase):
    async def execute(self, input: dict, context: AgentContext) -> dict:
        raise ValueError(input["message"])
