#!/usr/bin/env python3
"""Listen on a Unix datagram socket and append each datagram to a file, one
line per datagram, its own newlines shown as '|'.  Plays systemd's part for
the tests: NOTIFY_SOCKET (sd_notify's READY=1, ...) and the journal's
native socket.  Runs until killed; writes PATH.ready once bound."""
import os
import socket
import sys

path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
open(path + ".ready", "w").close()
with open(out, "a", buffering=1) as f:
    while True:
        data = s.recv(65536)
        f.write(data.decode("utf-8", "replace").rstrip("\n").replace("\n", "|") + "\n")
