"""Drive one register+run+chain+costs+eval scenario against atlasd (for
t_store_faults.sh) and check every answer: a 2xx answer must be backed by
the store, anything else must be a problem+json with a 4xx/5xx status.

  store_faults.py scenario URL EXAMPLES STATE   run it, write what was acknowledged
  store_faults.py verify URL STATE              check the acknowledged data is there

Prints one line per violation and exits 1 when there is any."""
import json
import os
import sys
import urllib.error
import urllib.request

CHAIN = """chain:
  name: "fault-chain"
  steps:
    - agent: "echo-c"
      input_map:
        text: "$.trigger.text"
"""
EVAL = """eval:
  name: "fault-eval"
  target_agent: "echo-c"
  trigger: "every_execution"
  checks:
    - name: "has-text"
      type: "assertion"
      condition: "output.text != null"
"""


def call(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    # every TCP request needs a token (docs/security.md): the harness's
    token = os.environ.get("ATLAS_TOKEN")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def problem_ok(step, status, headers, body, bad):
    ctype = headers.get("Content-Type", "")
    if status < 400 or "application/problem+json" not in ctype:
        bad.append("%s: %d %s answered (not a problem)" % (step, status, ctype))
        return
    try:
        p = json.loads(body)
    except ValueError:
        bad.append("%s: %d with a body that is not JSON" % (step, status))
        return
    if "type" not in p or "status" not in p:
        bad.append("%s: %d problem without type/status: %s" % (step, status, p))


def scenario(base, examples, state_path):
    bad, ack = [], {"agent": False, "jobs": [], "chain": False, "eval": False, "answers": []}

    def step(name, method, path, body=None, ok=(200, 201, 202)):
        st, h, b = call(base, method, path, body)
        ack["answers"].append([name, st])
        if st in ok:
            return st, h, json.loads(b) if b else None
        problem_ok(name, st, h, b, bad)
        return st, h, None

    st, _, out = step("register", "POST", "/api/v1/agents", {"path": examples + "/echo-c"})
    if out is not None:
        ack["agent"] = True
    for i in range(2):
        st, h, out = step("run", "POST", "/api/v1/agents/echo-c/run", {"text": "run %d" % i})
        if out is not None:
            if out.get("text") != "run %d" % i:
                bad.append("run: 200 with output %s" % out)
            jid = h.get("Atlas-Job-Id")
            if not jid:
                bad.append("run: 200 without Atlas-Job-Id")
            else:
                ack["jobs"].append([jid, "run %d" % i])
    st, _, out = step("chain register", "POST", "/api/v1/chains", {"file": "c.yaml", "yaml": CHAIN})
    if out is not None:
        ack["chain"] = True
    st, h, out = step("chain run", "POST", "/api/v1/chains/fault-chain/run",
                      {"input": {"text": "chained"}})
    if out is not None and h.get("Atlas-Job-Id"):
        ack["jobs"].append([h["Atlas-Job-Id"], None])
    step("costs", "GET", "/api/v1/costs?by=agent")
    step("traces", "GET", "/api/v1/traces")
    st, _, out = step("eval register", "POST", "/api/v1/evals", {"file": "e.yaml", "yaml": EVAL})
    if out is not None:
        ack["eval"] = True
    st, h, out = step("run (eval)", "POST", "/api/v1/agents/echo-c/run", {"text": "evaluated"})
    if out is not None and h.get("Atlas-Job-Id"):
        ack["jobs"].append([h["Atlas-Job-Id"], "evaluated"])
    step("jobs", "GET", "/api/v1/jobs")
    # what exists is never "not found" because a read failed
    for jid, _ in ack["jobs"][:1]:
        for what, path in (("trace", "/api/v1/traces/"), ("job", "/api/v1/jobs/")):
            st, _, _ = step(what, "GET", path + jid)
            if st == 404:
                bad.append("%s %s: 404 for a job that was acknowledged" % (what, jid))
    with open(state_path, "w") as f:
        json.dump(ack, f)
    return bad


def verify(base, state_path):
    bad = []
    with open(state_path) as f:
        ack = json.load(f)
    if ack["agent"] and call(base, "GET", "/api/v1/agents/echo-c")[0] != 200:
        bad.append("lost: the registration answered 2xx but echo-c is not registered")
    for jid, text in ack["jobs"]:
        st, _, b = call(base, "GET", "/api/v1/jobs/" + jid)
        if st != 200:
            bad.append("lost: job %s answered 2xx but is not stored (%d)" % (jid, st))
            continue
        j = json.loads(b)
        if j["state"] != "completed":
            bad.append("lost: job %s answered 2xx but is stored as %s" % (jid, j["state"]))
        elif text is not None and (j.get("output") or {}).get("text") != text:
            bad.append("lost: job %s output %s" % (jid, j.get("output")))
    if ack["chain"] and call(base, "GET", "/api/v1/chains/fault-chain")[0] != 200:
        bad.append("lost: the chain registration answered 2xx but the chain is gone")
    if ack["eval"] and call(base, "GET", "/api/v1/evals/fault-eval")[0] != 200:
        bad.append("lost: the eval registration answered 2xx but the eval is gone")
    return bad


if __name__ == "__main__":
    if sys.argv[1] == "scenario":
        problems = scenario(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        problems = verify(sys.argv[2], sys.argv[3])
    for p in problems:
        print(p)
    sys.exit(1 if problems else 0)
