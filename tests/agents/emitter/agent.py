"""Fixture: emits events to a custom trigger, then waits to be cancelled."""

import asyncio

from atlas import AgentBase, AgentContext


class Emitter(AgentBase):
    async def execute(self, input: dict, context: AgentContext) -> dict:
        results = []
        for n in range(1, input["count"] + 1):
            r = await context.call_tool("atlas.triggers.emit", {
                "name": input["trigger"], "idempotency_key": f"{input['key']}-{n}",
                "body": {"n": n, "subject": f"mail {n}"}})
            results.append(r)
            context.log(f"emitted {n}: {r}")
        while not context.cancelled:
            await asyncio.sleep(0.05)
        return {"emitted": results}
