"""Sequential `atlas run` calls: the latency a shell script sees."""
import json
import subprocess
import sys
import time

atlas, url, agent, body, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
lat = []
for _ in range(n):
    t0 = time.perf_counter_ns()
    subprocess.run([atlas, "--url", url, "run", agent, "--input", body], check=True,
                   stdout=subprocess.DEVNULL)
    lat.append(time.perf_counter_ns() - t0)
lat.sort()
print(json.dumps({"requests": n, "p50_us": lat[n // 2] // 1000,
                  "p99_us": lat[int((n - 1) * 0.99)] // 1000}))
