import os

from atlas import AgentBase


class OrchCrash(AgentBase):
    async def execute(self, input, context):
        os._exit(5)
