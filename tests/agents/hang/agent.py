"""Fixture: never answers tools/call (see agent.yaml for the variants)."""

import asyncio
import sys
import time

from atlas import AgentBase, AgentContext


class HangAgent(AgentBase):
    async def execute(self, input: dict, context: AgentContext) -> dict:
        print("hang: not answering", file=sys.stderr, flush=True)
        if input.get("block"):
            while True:  # blocks the event loop itself
                time.sleep(3600)
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if input.get("honor_cancel"):
                    raise
                print("hang: ignoring the cancel", file=sys.stderr, flush=True)
