"""The runs list at 100,000 jobs (issue 18): GET /api/v1/jobs pages against the
same SELECT run straight on the store's SQLite file (the floor: what any
server on this store must spend), in one run.

usage: paging.py BUILD_DIR [N_JOBS] [REPEAT]

Starts atlasd on a temp data directory, stops it, writes N_JOBS finished job
rows (10 agents, 1 in 50 started by a trigger) with sqlite3, starts atlasd
again and times each page request over one keep-alive connection to
127.0.0.1 (the client's time to the last byte: the server's time plus
loopback), median and p95 of REPEAT requests."""
import http.client
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

build = sys.argv[1] if len(sys.argv) > 1 else "build"
n_jobs = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
repeat = int(sys.argv[3]) if len(sys.argv) > 3 else 50
tmp = tempfile.mkdtemp(prefix="atlas-bench-jobs.")
data = os.path.join(tmp, "data")


def start():
    url = os.path.join(data, "atlasd.url")
    if os.path.exists(url):
        os.unlink(url)
    log = open(os.path.join(tmp, "atlasd.log"), "ab")
    p = subprocess.Popen([os.path.join(build, "atlasd"), "--data", data, "--listen", "127.0.0.1:0"],
                         stdout=log, stderr=log)
    for _ in range(400):
        if os.path.exists(url) and os.path.getsize(url):
            return p, open(url).read().strip()
        time.sleep(0.05)
    raise SystemExit("atlasd did not start: see " + log.name)


def stop(p):
    p.send_signal(signal.SIGTERM)
    p.wait(30)


p, _ = start()
stop(p)
db = sqlite3.connect(os.path.join(data, "atlas.db"))
now = int(time.time() * 1000)
t0 = time.time()
rows = []
for i in range(n_jobs):
    trig = i % 50 == 0
    meta = json.dumps({"event": {"id": "evt_%d" % i, "source": {"type": "cron", "name": "nightly"}}}) if trig else None
    rows.append(("job_bench%020d" % i, "agent-%d" % (i % 10), "1.0.0", 0, 2 if i % 7 else 3,
                 '{"text": "x"}', '{"ok": true}', None, None, "job_bench%020d" % i, 0, 1, 0,
                 "trigger" if trig else "http", meta, now - (n_jobs - i) * 10,
                 now - (n_jobs - i) * 10 + 1, now - (n_jobs - i) * 10 + 5))
db.executemany("INSERT INTO jobs(id, agent, agent_version, priority, state, input, output, error,"
               " parent_id, root_id, depth, attempts, idempotent, source, meta, created_ms,"
               " started_ms, finished_ms) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
db.commit()
print("wrote %d jobs in %.1f s" % (n_jobs, time.time() - t0), file=sys.stderr)

p, base = start()
token = open(os.path.join(data, "admin.token")).read().strip()
host, port = base.split("//", 1)[1].rsplit(":", 1)
conn = http.client.HTTPConnection(host, int(port))
mid = db.execute("SELECT seq FROM jobs ORDER BY seq LIMIT 1 OFFSET ?", (n_jobs // 2,)).fetchone()[0]
deep = db.execute("SELECT seq FROM jobs ORDER BY seq LIMIT 1 OFFSET ?", (100,)).fetchone()[0]
cols = ("seq, id, agent, agent_version, priority, state, input, output, error, parent_id, root_id,"
        " depth, attempts, idempotent, source, meta, created_ms, started_ms, finished_ms, kind")
cases = [
    ("newest page", "/api/v1/jobs?limit=50", "1=1", ()),
    ("a middle page (before=)", "/api/v1/jobs?limit=50&before=%d" % mid, "seq < ?", (mid,)),
    ("an old page (before=)", "/api/v1/jobs?limit=50&before=%d" % deep, "seq < ?", (deep,)),
    ("by agent", "/api/v1/jobs?limit=50&agent=agent-3", "agent = ?", ("agent-3",)),
    ("by state", "/api/v1/jobs?limit=50&state=failed", "state = 3", ()),
    ("by trigger", "/api/v1/jobs?limit=50&trigger=nightly",
     "source='trigger' AND json_extract(meta, '$.event.source.name') = ?", ("nightly",)),
]
print("%-26s %10s %10s %10s %8s" % ("page (50 jobs)", "api p50", "api p95", "sqlite p50", "ratio"))
for name, path, where, args in cases:
    api = []
    for _ in range(repeat):
        t = time.perf_counter()
        conn.request("GET", path, headers={"Authorization": "Bearer " + token})
        r = conn.getresponse()
        body = r.read()
        api.append(time.perf_counter() - t)
        assert r.status == 200 and len(json.loads(body)["jobs"]) == 50, (path, r.status, body[:200])
    raw = []
    for _ in range(repeat):
        t = time.perf_counter()
        db.execute("SELECT " + cols + " FROM jobs WHERE " + where + " ORDER BY seq DESC LIMIT 50",
                   args).fetchall()
        raw.append(time.perf_counter() - t)
    a50, a95 = statistics.median(api), sorted(api)[int(len(api) * 0.95) - 1]
    s50 = statistics.median(raw)
    print("%-26s %8.2f ms %8.2f ms %8.2f ms %7.1fx" % (name, a50 * 1e3, a95 * 1e3, s50 * 1e3, a50 / s50))
stop(p)
subprocess.run(["rm", "-rf", tmp])
