"""bench/skills: n sequential context.skill calls; the latencies (µs)."""

import time

from atlas import AgentBase, AgentContext


class SkillBench(AgentBase):
    async def execute(self, input: dict, context: AgentContext) -> dict:
        name, arg = input["skill"], input.get("input", {})
        for _ in range(input.get("warmup", 100)):
            await context.skill(name, arg)
        lat = []
        for _ in range(input["n"]):
            t0 = time.perf_counter_ns()
            await context.skill(name, arg)
            lat.append((time.perf_counter_ns() - t0) / 1000.0)
        lat.sort()
        n = len(lat)
        return {"n": n, "p50_us": lat[n // 2], "p99_us": lat[min(n - 1, n * 99 // 100)],
                "mean_us": sum(lat) / n}
