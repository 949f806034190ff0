"""Fixture: returns the ATLAS_* environment, its cwd and the call's context."""

import os

from atlas import AgentBase, AgentContext


class EnvProbe(AgentBase):
    async def execute(self, input: dict, context: AgentContext) -> dict:
        env = {k: v for k, v in os.environ.items()
               if k.startswith(("ATLAS_", "OPENAI_")) or k in ("PATH", "HOME", "PYTHONPATH")}
        return {
            "env": env,
            "cwd": os.getcwd(),
            "files": sorted(os.listdir(".")),
            "job_id": context.job_id,
            "token": context.token,
            "secret_leaked": "SECRET_FOR_TEST" in os.environ,
        }
