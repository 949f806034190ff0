"""Fixture: calls one platform MCP tool with its job token (ATLAS_MCP_URL)
and returns what came back, or the error code."""

from atlas import AgentBase, AgentContext, AtlasError


class PlatformCaller(AgentBase):
    async def execute(self, input: dict, context: AgentContext) -> dict:
        try:
            result = await context.call_tool(input["tool"], input.get("arguments", {}), timeout=60)
            return {"result": result, "job": context.job_id}
        except AtlasError as e:
            return {"error": str(e.code), "message": e.message, "job": context.job_id}
