"""Fixture: an echo agent whose contract asks for Python >= 9.0."""

from atlas import AgentBase, AgentContext


class PyDepAgent(AgentBase):
    async def execute(self, input: dict, context: AgentContext) -> dict:
        return input
