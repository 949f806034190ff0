"""The Atlas spec's ResearchAgent, as printed."""
from atlas import AgentBase


class ResearchAgent(AgentBase):
    async def execute(self, input: dict, context: AgentContext) -> dict:
        # Spawn sub-agents dynamically
        search_result = await context.spawn("web-searcher", {
            "query": input["topic"]
        })

        # Conditionally spawn more based on results
        if search_result["needs_deeper_analysis"]:
            analysis = await context.spawn("deep-analyzer", {
                "data": search_result["raw_data"]
            })
            return analysis

        return search_result
