from atlas import AgentBase


class Typed(AgentBase):
    async def execute(self, input, context):
        return {"got": input, "types": {k: type(v).__name__ for k, v in input.items()}}
