"""A custom orchestrator: answers the runtime's decision requests
(docs/orchestrator-protocol.md).

- step: choose the model tier by the size of the step's input (task_complexity)
- recover: retry crashes and time-outs twice with back-off, skip otherwise
"""
import json

from atlas import AgentBase, AgentContext

TRANSIENT = {"agent-crashed", "timeout", "connection-failed", "busy", "agent-error"}


class ResearchOrchestrator(AgentBase):
    async def execute(self, input: dict, context: AgentContext) -> dict:
        if input["decision"] == "step":
            size = len(json.dumps(input.get("input", {})))
            tier = "fast" if size < 400 else "balanced" if size < 4000 else "powerful"
            return {"tier": tier, "reason": f"task_complexity: {size} bytes of input"}
        error = input.get("error", {}).get("type", "")
        attempt = input.get("attempt", 0)
        if error in TRANSIENT and attempt < 2:
            return {"action": "retry", "delay_s": 0.1 * (2 ** attempt),
                    "reason": f"{error} is transient (attempt {attempt + 1})"}
        return {"action": "skip", "reason": f"{error} after {attempt + 1} attempt(s): moving on"}
