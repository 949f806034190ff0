"""Fixture: on_startup raises."""

from atlas import AgentBase, AgentContext


class StartupFailAgent(AgentBase):
    async def on_startup(self):
        raise RuntimeError("startup-fail: deliberate failure in on_startup")

    async def execute(self, input: dict, context: AgentContext) -> dict:
        return input
