import os
import tempfile

from atlas import AgentBase


class Flaky(AgentBase):
    async def execute(self, input, context):
        path = os.path.join(tempfile.gettempdir(), "atlas-flaky-" + input["key"])
        n = int(open(path).read()) if os.path.exists(path) else 0
        with open(path, "w") as f:
            f.write(str(n + 1))
        if n < input["fail_times"]:
            if input["mode"] == "crash":
                os._exit(9)
            raise RuntimeError(f"flaky failure {n + 1} of {input['fail_times']}")
        return {"calls": n + 1, **input}
