"""Fixture: asks its caller (elicitation) and returns what came back."""

from atlas import AgentBase, AgentContext


class AskerAgent(AgentBase):
    async def execute(self, input: dict, context: AgentContext) -> dict:
        answer = await context.elicit(
            input["question"],
            {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]})
        return {"answer": answer}
