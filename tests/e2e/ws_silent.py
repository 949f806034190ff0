"""For e2e.trigger_ws: a WebSocket client that completes the handshake by
hand and then never answers anything (a peer that vanished without a
FIN).  Prints how many seconds passed until the server closed the
connection (or "open" after argv[2] seconds)."""

import base64
import os
import socket
import sys
import time
from urllib.parse import urlparse

u = urlparse(sys.argv[1])
s = socket.create_connection((u.hostname, u.port), timeout=5)
key = base64.b64encode(os.urandom(16)).decode()
s.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
           % (u.path, u.hostname, u.port, key)).encode())
head = b""
while b"\r\n\r\n" not in head:
    head += s.recv(4096)
assert head.startswith(b"HTTP/1.1 101"), head
t0 = time.monotonic()
s.settimeout(float(sys.argv[2]))
try:
    while True:
        if not s.recv(65536):  # frames (ready, pings) are read and never answered
            break
except socket.timeout:
    print("open")
    sys.exit(0)
except OSError:
    pass
print(round(time.monotonic() - t0, 1))
