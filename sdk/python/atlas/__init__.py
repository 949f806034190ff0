"""Atlas agent SDK for Python (standard library only).

    from atlas import AgentBase, AgentContext

    class SummarizerAgent(AgentBase):
        async def execute(self, input: dict, context: AgentContext) -> dict:
            ...

Serve it with ``python3 -m atlas.runner agent.py`` (what atlasd runs for a
Python agent without an ``entrypoint``).  See docs/sdk-python.md.
"""

from .agent import AgentBase, AgentContext, LLMStream
from .platform import AtlasError
from .protocol import SDK_VERSION as __version__


def run(agent_cls=None):
    """Serve ``agent_cls`` over MCP stdio from the agent's own script; see
    :func:`atlas.runner.run`."""
    from .runner import run as _run
    _run(agent_cls)


__all__ = ["AgentBase", "AgentContext", "AtlasError", "LLMStream", "run", "__version__"]
