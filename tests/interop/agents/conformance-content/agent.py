"""Conformance fixture: the interesting part is mcp/*.json beside this file."""

from atlas import AgentBase, AgentContext


class ConformanceContent(AgentBase):
    async def execute(self, input: dict, context: AgentContext) -> dict:
        return {"resources": "mcp/resources.json", "prompts": "mcp/prompts.json"}
