"""Fixture: exits in the middle of a tools/call, without answering."""

import os
import sys

from atlas import AgentBase, AgentContext


class CrashAgent(AgentBase):
    async def execute(self, input: dict, context: AgentContext) -> dict:
        context.log("crash: about to exit mid-call")
        context.progress(1, 2, "half way")
        print("crash: exiting mid-call", file=sys.stderr, flush=True)
        os._exit(input.get("code", 3))
