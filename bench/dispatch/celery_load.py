"""Closed-loop load for the Celery peer: CONCURRENCY client threads each run
noop.delay(...).get() until REQUESTS have completed.  Prints the same JSON
line as bench/load.c."""
import json
import sys
import threading
import time

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from celery_app import noop  # noqa: E402

conc, total = int(sys.argv[1]), int(sys.argv[2])
lat = []
lock = threading.Lock()
count = [0]


def worker():
    while True:
        with lock:
            if count[0] >= total:
                return
            count[0] += 1
        t0 = time.perf_counter_ns()
        noop.delay({"x": 1}).get(timeout=60)
        dt = time.perf_counter_ns() - t0
        with lock:
            lat.append(dt)


noop.delay(None).get(timeout=60)  # warm the connection pool
t = time.perf_counter()
threads = [threading.Thread(target=worker) for _ in range(conc)]
for th in threads:
    th.start()
for th in threads:
    th.join()
secs = time.perf_counter() - t
lat.sort()
n = len(lat)


def pct(p):
    return lat[int((n - 1) * p)] // 1000 if n else 0


print(json.dumps({"requests": n, "errors": 0, "seconds": round(secs, 3),
                  "rps": round(n / secs, 1), "p50_us": pct(0.5), "p90_us": pct(0.9),
                  "p99_us": pct(0.99), "max_us": pct(1.0)}))
