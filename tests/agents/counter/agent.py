"""Fixture: {"calls": <calls served by this process>, "pid": <its pid>}."""

import os

from atlas import AgentBase, AgentContext


class CounterAgent(AgentBase):
    def __init__(self):
        self.calls = 0

    async def execute(self, input: dict, context: AgentContext) -> dict:
        self.calls += 1
        return {"calls": self.calls, "pid": os.getpid()}
