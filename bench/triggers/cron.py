"""1,000 cron triggers firing in the same second (issue 15): registered on a
running atlasd, all on "*/10 * * * * *" (a leading seconds field), each
targeting echo-c; after one firing, the lag of each from its scheduled time
to its job's submission (atlas_trigger_lag_seconds, one sample per trigger)
and to its job's start (the job's started_at).

usage: cron.py URL TOKEN [N]"""
import http.client
import json
import sys
import time
import urllib.parse
from datetime import datetime

url, token = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
u = urllib.parse.urlparse(url)
conn = http.client.HTTPConnection(u.hostname, u.port)
H = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}


def call(method, path, body=None):
    conn.request(method, path, json.dumps(body) if body is not None else None, H)
    r = conn.getresponse()
    data = r.read()
    return r.status, (json.loads(data) if data else None)


t0 = time.time()
for i in range(n):
    yaml = ('trigger:\n  name: "c%04d"\n  type: cron\n  schedule: "*/10 * * * * *"\n'
            '  missed: skip\n  target:\n    agent: "echo-c"\n  input:\n    i: %d\n' % (i, i))
    st, body = call("POST", "/api/v1/triggers", {"yaml": yaml, "file": "c%04d.yaml" % i})
    assert st == 201, (st, body)
reg = time.time() - t0
# the first boundary at least 2 s after the last registration, then 4 s more
now = time.time()
due = (int(now) // 10 + 1) * 10
if due - now < 2:
    due += 10
time.sleep(due - time.time() + 4)
for i in range(n):
    call("POST", "/api/v1/triggers/c%04d/pause" % i, {})
conn.request("GET", "/metrics", headers={"Authorization": "Bearer " + token})
metrics = conn.getresponse().read().decode()
lags = {}
for line in metrics.splitlines():
    if line.startswith("atlas_trigger_lag_seconds_sum{"):
        name = line.split('trigger="', 1)[1].split('"', 1)[0]
        if name.startswith("c") and name[1:].isdigit():
            lags[name] = float(line.rsplit(" ", 1)[1])
starts = []
for i in range(n):
    st, h = call("GET", "/api/v1/triggers/c%04d/history?limit=5" % i)
    for f in (h or {}).get("firings", []):
        sched = f.get("scheduled_at")
        if not f.get("job_id") or not sched:
            continue
        st, job = call("GET", "/api/v1/jobs/" + f["job_id"])
        if job and job.get("started_at"):
            a = datetime.fromisoformat(sched.replace("Z", "+00:00")).timestamp()
            b = datetime.fromisoformat(job["started_at"].replace("Z", "+00:00")).timestamp()
            starts.append(b - a)


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))] if v else float("nan")


lag = list(lags.values())
print(json.dumps({"triggers": n, "register_s": round(reg, 2), "fired": len(lag),
                  "submit_lag_ms": {"p50": round(pct(lag, .5) * 1e3, 1), "p99": round(pct(lag, .99) * 1e3, 1),
                                    "max": round(max(lag) * 1e3, 1) if lag else None,
                                    "within_100ms": sum(1 for x in lag if x <= 0.1)},
                  "start_lag_ms": {"jobs": len(starts), "p50": round(pct(starts, .5) * 1e3, 1),
                                   "p99": round(pct(starts, .99) * 1e3, 1),
                                   "max": round(max(starts) * 1e3, 1) if starts else None,
                                   "within_100ms": sum(1 for x in starts if x <= 0.1)}}))
