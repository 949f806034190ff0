#!/usr/bin/python3
"""Cold start added by atlas-init and by the agent sandbox (docs/performance.md).

Starts /bin/true N times each way and prints the p50 and p90 in ms:
  direct        posix_spawn of the program, as before atlas-init
  atlas-init    through atlas-init (subreaper, parent-death signal, own group)
  sandbox       atlas-init + bubblewrap with the namespaces, binds and seccomp
                filter of src/security/sandbox.c (the filter is an empty pipe
                here: bwrap's cost, not libseccomp's)
  +landlock     the same, with atlas-init --landlock inside
Usage: bench/sandbox/cold.py BUILD_DIR [N]
"""
import os
import statistics
import subprocess
import sys
import time


def measure(argv, n):
    xs = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(argv, check=True)
        xs.append((time.perf_counter() - t) * 1000)
    xs.sort()
    return statistics.median(xs), xs[int(len(xs) * 0.9) - 1]


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    init = os.path.join(build, "atlas-init")
    pid = str(os.getpid())
    bw = ["/usr/bin/bwrap", "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
          "--unshare-cgroup-try", "--unshare-net", "--die-with-parent", "--disable-userns",
          "--cap-drop", "ALL", "--hostname", "atlas-agent", "--ro-bind", "/usr", "/usr"]
    for d in ("/bin", "/sbin", "/lib", "/lib64"):
        if os.path.islink(d):
            bw += ["--symlink", os.readlink(d), d]
    bw += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache", "--proc", "/proc",
           "--dev", "/dev", "--size", str(256 << 20), "--tmpfs", "/tmp", "--size",
           str(256 << 20), "--tmpfs", "/workspace", "--ro-bind", init, init,
           "--remount-ro", "/", "--"]
    ways = [
        ("direct", ["/bin/true"]),
        ("atlas-init", [init, pid, "/bin/true", "true"]),
        ("sandbox", [init, pid, bw[0]] + bw + ["/bin/true"]),
        ("+landlock", [init, pid, bw[0]] + bw + [init, "--landlock", "ro", "/usr", "rw", "/tmp",
                                                 "rw", "/workspace", "--", "/bin/true"]),
    ]
    base = None
    for name, argv in ways:
        p50, p90 = measure(argv, n)
        base = base if base is not None else p50
        print("%-11s p50 %6.2f ms  p90 %6.2f ms  added p50 %6.2f ms" % (name, p50, p90, p50 - base))


if __name__ == "__main__":
    main()
