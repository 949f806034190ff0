import asyncio

from atlas import AgentBase


class Recurse(AgentBase):
    async def execute(self, input, context):
        n = input["n"]
        if n == 0:
            await asyncio.sleep(input["sleep_ms"] / 1000)
            return {"levels": 0}
        out = await context.spawn("recurse", {"n": n - 1, "sleep_ms": input["sleep_ms"]})
        return {"levels": out["levels"] + 1}
