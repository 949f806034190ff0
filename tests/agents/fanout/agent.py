import asyncio

from atlas import AgentBase


class Fanout(AgentBase):
    async def execute(self, input, context):
        outs = await asyncio.gather(*[context.spawn(input["agent"], {"i": i})
                                      for i in range(input["n"])])
        return {"children": len(outs), "ok": sum(1 for o in outs if o.get("i") is not None)}
