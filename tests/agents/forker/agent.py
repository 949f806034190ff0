"""Fixture: leaves grandchildren behind (see agent.yaml)."""

import asyncio
import os
import sys

from atlas import AgentBase, AgentContext


def start_sleeper(tag: str, orphan: bool) -> None:
    pid = os.fork()
    if pid:
        if orphan:
            os.waitpid(pid, 0)  # the middle process exits at once
        return
    try:
        if orphan:
            os.setsid()
            if os.fork():
                os._exit(0)
        os.execv("/bin/sleep", ["sleep", tag])
    finally:
        os._exit(1)


class ForkerAgent(AgentBase):
    async def execute(self, input: dict, context: AgentContext) -> dict:
        n = int(input.get("n", 200))
        for i in range(n):
            start_sleeper(str(input["tag"]), i % 2 == 1)
        print(f"forker: started {n}", file=sys.stderr, flush=True)
        if input.get("exit"):
            os._exit(3)
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                print("forker: ignoring the cancel", file=sys.stderr, flush=True)
