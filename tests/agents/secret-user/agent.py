"""Fixture: reads $PLANT_SECRET and puts it everywhere it can."""

import os
import sys

from atlas import AgentBase, AgentContext


class SecretUser(AgentBase):
    async def execute(self, input: dict, context: AgentContext) -> dict:
        value = os.environ.get("PLANT_SECRET", "")
        print("the secret is " + value, file=sys.stderr, flush=True)
        context.progress(1, 2, "progress with " + value)
        if input.get("fail"):
            raise RuntimeError("failing with " + value)
        return {"has": bool(value), "echo": value, "length": len(value)}
