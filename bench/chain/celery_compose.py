"""The Celery peer for bench/chain: a chain of N no-op tasks and a group of
M no-op tasks, as a user would compose them with Celery's canvas."""
import json
import sys
import time

sys.path.insert(0, __file__.rsplit("/", 2)[0] + "/dispatch")
from celery import chain, group  # noqa: E402
from celery_app import noop  # noqa: E402

mode, n, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
noop.delay(None).get(timeout=60)  # warm up
lat = []
for _ in range(reps):
    t0 = time.perf_counter_ns()
    if mode == "chain":
        chain(*[noop.s() if i else noop.s({"x": 1}) for i in range(n)]).apply_async().get(timeout=300)
    else:
        group(noop.s({"i": i}) for i in range(n)).apply_async().get(timeout=600)
    lat.append(time.perf_counter_ns() - t0)
lat.sort()
print(json.dumps({"reps": reps, "p50_us": lat[len(lat) // 2] // 1000, "min_us": lat[0] // 1000}))
