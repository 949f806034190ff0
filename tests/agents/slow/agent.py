"""Fixture: sleeps input.ms, reporting progress, then echoes its input."""

import asyncio

from atlas import AgentBase, AgentContext


class SlowAgent(AgentBase):
    async def execute(self, input: dict, context: AgentContext) -> dict:
        ms = input["ms"]
        context.progress(0, ms, "sleeping")
        await asyncio.sleep(ms / 1000)
        context.progress(ms, ms, "done")
        return input
