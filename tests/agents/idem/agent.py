"""Fixture: an idempotent echo that takes input.ms milliseconds."""

import asyncio

from atlas import AgentBase, AgentContext


class IdemAgent(AgentBase):
    async def execute(self, input: dict, context: AgentContext) -> dict:
        await asyncio.sleep(input["ms"] / 1000)
        return input
