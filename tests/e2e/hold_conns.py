#!/usr/bin/env python3
"""Holds many idle or half-open TCP connections to a server (e2e helper).

hold_conns.py PORT COUNT DIR [--source ADDR] [--partial]

Opens COUNT connections to 127.0.0.1:PORT (from ADDR when given; any
127.x.y.z works on Linux loopback), with --partial half of them send an
unfinished request head.  Then writes DIR/opened ("N"), and until DIR/stop
exists keeps DIR/status up to date: "open N closed M" where closed counts
the connections the server has closed.  Exits after closing everything.
"""
import os
import select
import socket
import sys
import time


def main():
    port, count, d = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    source = None
    partial = "--partial" in sys.argv
    if "--source" in sys.argv:
        source = sys.argv[sys.argv.index("--source") + 1]
    socks = []
    for i in range(count):
        # a loaded server accepts slower than we connect: a full backlog
        # drops SYNs, so try again rather than give up on the slot
        s = None
        for _attempt in range(5):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(5.0)
            try:
                if source:
                    s.bind((source, 0))
                s.connect(("127.0.0.1", port))
                break
            except OSError:
                s.close()
                s = None
        if s is None:
            continue
        if partial and i % 2:
            try:
                s.sendall(b"GET /api/v1/agents HTTP/1.1\r\nHost: x\r\n")
            except OSError:
                pass
        s.setblocking(False)
        socks.append(s)
    with open(os.path.join(d, "opened.tmp"), "w") as f:
        f.write(str(len(socks)))
    os.rename(os.path.join(d, "opened.tmp"), os.path.join(d, "opened"))
    closed = set()
    poller = select.poll()
    for s in socks:
        poller.register(s, select.POLLIN | select.POLLHUP | select.POLLERR)
    by_fd = {s.fileno(): s for s in socks}
    while not os.path.exists(os.path.join(d, "stop")):
        for fd, _ in poller.poll(50):
            s = by_fd[fd]
            try:
                data = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                closed.add(fd)
                poller.unregister(fd)
        tmp = os.path.join(d, "status.tmp")
        with open(tmp, "w") as f:
            f.write("open %d closed %d\n" % (len(socks) - len(closed), len(closed)))
        os.rename(tmp, os.path.join(d, "status"))
        time.sleep(0.02)
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
