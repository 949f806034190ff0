"""``python3 -m atlas.runner agent.py``: serve the agent in agent.py over
MCP stdio.

1. The protocol gets private copies of stdin and stdout; file descriptor 1
   is pointed at stderr and ``sys.stdout`` is ``sys.stderr``, so ``print``,
   C extensions and child processes of the agent cannot corrupt the JSON-RPC
   stream (docs/agent-protocol.md section 2).  fd 0 reads /dev/null.
2. The contract comes from ``ATLAS_CONTRACT`` (JSON) or the agent.yaml beside
   agent.py.
3. agent.py is loaded as a module with ``AgentBase`` and ``AgentContext``
   already in its globals (the Atlas spec's example uses ``AgentContext`` in
   an annotation without importing it), and its one ``AgentBase`` subclass
   is instantiated.

Exit status: 0 after a clean shutdown, 1 when on_startup or on_shutdown
raised, 2 when the agent or its contract could not be loaded.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
import traceback

from .agent import AgentBase, AgentContext
from .contract import ContractError, load_contract
from .platform import AtlasError
from .protocol import MAX_LINE_BYTES
from .server import Server

USAGE = "usage: python3 -m atlas.runner [agent.py]"


class LoadError(Exception):
    pass


def find_agent_class(namespace: dict, where: str) -> type:
    """The one AgentBase subclass in ``namespace``.  Classes defined there
    win over imported ones; with a hierarchy, the most derived one."""
    found = [v for v in namespace.values()
             if isinstance(v, type) and issubclass(v, AgentBase) and v is not AgentBase]
    if not found:
        raise LoadError(f"{where}: no subclass of atlas.AgentBase found")
    local = [c for c in found if c.__module__ == namespace.get("__name__")]
    candidates = local or found
    leaves = [c for c in candidates if not any(o is not c and issubclass(o, c) for o in candidates)]
    if len(leaves) != 1:
        names = ", ".join(sorted(c.__name__ for c in leaves))
        raise LoadError(f"{where}: several AgentBase subclasses ({names}); keep exactly one")
    return leaves[0]


def load_agent_class(path: str) -> type:
    """Import the file at ``path`` and return its agent class."""
    if not os.path.isfile(path):
        raise LoadError(f"{path}: no such file")
    agent_dir = os.path.dirname(os.path.abspath(path))
    if agent_dir not in sys.path:
        sys.path.insert(0, agent_dir)  # so agent.py can import its siblings
    spec = importlib.util.spec_from_file_location("__atlas_agent__", path)
    if spec is None or spec.loader is None:
        raise LoadError(f"{path}: cannot be loaded as Python")
    module = importlib.util.module_from_spec(spec)
    module.__dict__.update(AgentBase=AgentBase, AgentContext=AgentContext, AtlasError=AtlasError)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return find_agent_class(vars(module), path)


def _isolate_stdio() -> tuple[int, int]:
    """Keep stdin/stdout for the protocol; return (in_fd, out_fd)."""
    sys.stdout.flush()
    out_fd = os.dup(1)
    in_fd = os.dup(0)
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.stdout = sys.stderr
    sys.stdin = open(os.devnull, encoding="utf-8")
    return in_fd, out_fd


def serve(agent_cls: type, agent_dir: str, in_fd: int, out_fd: int) -> int:
    """Instantiate ``agent_cls`` and serve it; return the exit status."""
    try:
        contract = load_contract(agent_dir)
    except ContractError as exc:
        print(f"atlas: {exc}", file=sys.stderr)
        return 2
    name = (os.environ.get("ATLAS_AGENT_NAME") or contract.get("name")
            or getattr(agent_cls, "name", "") or os.path.basename(agent_dir) or "agent")
    version = str(os.environ.get("ATLAS_AGENT_VERSION") or contract.get("version") or "0.0.0")
    try:
        agent = agent_cls()
    except Exception:
        print(f"atlas: cannot instantiate {agent_cls.__name__}:", file=sys.stderr)
        traceback.print_exc()
        return 2
    agent.contract, agent.name, agent.version = contract, str(name), version
    try:
        max_line = int(os.environ.get("ATLAS_MAX_LINE_BYTES") or MAX_LINE_BYTES)
    except ValueError:
        max_line = MAX_LINE_BYTES
    server = Server(agent, contract, name=str(name), version=version, in_fd=in_fd, out_fd=out_fd,
                    max_line=max_line)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    return loop.run_until_complete(server.run())


def _exit(code: int) -> None:
    # os._exit: a call that ignored its cancellation, or a worker thread stuck
    # in a blocking call, must not keep a finished agent alive.
    try:
        sys.stderr.flush()
    finally:
        os._exit(code)


def run(agent_cls: type | None = None) -> None:
    """Serve an agent from its own script (``entrypoint: ["python3", "agent.py"]``):

        if __name__ == "__main__":
            atlas.run(MyAgent)

    Without an argument, the one AgentBase subclass in ``__main__`` is served.
    Never returns.
    """
    main_mod = sys.modules["__main__"]
    path = getattr(main_mod, "__file__", None) or "agent.py"
    in_fd, out_fd = _isolate_stdio()
    if agent_cls is None:
        try:
            agent_cls = find_agent_class(vars(main_mod), path)
        except LoadError as exc:
            print(f"atlas: {exc}", file=sys.stderr)
            _exit(2)
    _exit(serve(agent_cls, os.path.dirname(os.path.abspath(path)), in_fd, out_fd))


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr)
        _exit(0)
    if len(args) > 1:
        print(USAGE, file=sys.stderr)
        _exit(2)
    path = args[0] if args else "agent.py"
    in_fd, out_fd = _isolate_stdio()
    try:
        cls = load_agent_class(path)
    except LoadError as exc:
        print(f"atlas: {exc}", file=sys.stderr)
        _exit(2)
    except BaseException:  # the agent's module failed to import
        print(f"atlas: loading {path} failed:", file=sys.stderr)
        traceback.print_exc()
        _exit(2)
    _exit(serve(cls, os.path.dirname(os.path.abspath(path)), in_fd, out_fd))


if __name__ == "__main__":
    main()
