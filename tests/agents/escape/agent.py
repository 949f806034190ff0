"""Fixture: tries to escape its sandbox (see agent.yaml)."""

import ctypes
import os
import socket
import time

from atlas import AgentBase, AgentContext


def attempt(fn):
    try:
        got = fn()
        return "ESCAPED: " + str(got)[:200]
    except Exception as e:  # the reason is the point
        return "blocked: " + type(e).__name__ + ": " + str(e)[:200]


def read(path):
    with open(path, "rb") as f:
        return f.read(100)


def write(path):
    with open(path, "w") as f:
        f.write("escaped")
    return path


def via_symlink(target):
    link = os.path.join(os.environ.get("ATLAS_WORKSPACE", "/tmp"), "link")
    if os.path.lexists(link):
        os.unlink(link)
    os.symlink(target, link)
    return write(link)


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    s.close()
    return "connected to %d" % port


def ptrace():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.ptrace(0, 0, None, None) != 0:  # PTRACE_TRACEME
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return "ptrace allowed"


def environ_of_parent(secret):
    seen = []
    for pid in [str(os.getppid())] + [p for p in os.listdir("/proc") if p.isdigit()]:
        try:
            with open("/proc/%s/environ" % pid, "rb") as f:
                env = f.read()
        except OSError:
            continue
        seen.append(pid)
        if secret.encode() in env:
            return "secret found in /proc/%s/environ" % pid
    raise PermissionError("secret in no environ of %s" % ",".join(seen))


def processes():
    pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    if len(pids) > 5:
        return "sees %d processes" % len(pids)
    raise PermissionError("sees only %s" % pids)


def fork_bomb():
    pids = []
    try:
        for _ in range(1000):
            pid = os.fork()
            if pid == 0:
                time.sleep(1)
                os._exit(0)
            pids.append(pid)
        return "forked %d processes" % len(pids)
    finally:
        for pid in pids:
            os.waitpid(pid, 0)


def allocate(mb):
    b = bytearray(mb << 20)
    return "allocated %d MB" % (len(b) >> 20)


def burn(ms):
    """Spin for ms of wall time; the CPU time that got is what limits.cpu allows."""
    t0, c0 = time.monotonic(), time.process_time()
    while time.monotonic() - t0 < ms / 1000.0:
        pass
    return {"wall": time.monotonic() - t0, "cpu": time.process_time() - c0}


class EscapeAgent(AgentBase):
    async def execute(self, input: dict, context: AgentContext) -> dict:
        r = {}
        if "burn_ms" in input:
            return {"burn": burn(input["burn_ms"])}
        for p in input.get("read", []):
            r["read " + p] = attempt(lambda p=p: read(p))
        for p in input.get("write", []):
            r["write " + p] = attempt(lambda p=p: write(p))
            r["symlink " + p] = attempt(lambda p=p: via_symlink(p))
            r["proc-root " + p] = attempt(lambda p=p: write("/proc/self/root" + p))
        r["write .."] = attempt(lambda: write("../escaped"))
        if "port" in input:
            r["connect"] = attempt(lambda: connect(input["port"]))
        if "secret" in input:
            r["environ"] = attempt(lambda: environ_of_parent(input["secret"]))
        if "device" in input:
            r["device"] = attempt(lambda: os.stat(input["device"]))
        if input.get("fork_bomb"):
            r["fork bomb"] = attempt(fork_bomb)
        if "allocate_mb" in input:
            r["allocate"] = attempt(lambda: allocate(input["allocate_mb"]))
        r["list /"] = attempt(lambda: os.listdir("/"))  # Landlock allows no reading of /
        r["processes"] = attempt(processes)
        r["ptrace"] = attempt(ptrace)
        r["workspace"] = attempt(lambda: write(os.path.join(os.environ["ATLAS_WORKSPACE"], "ok")))
        return r
