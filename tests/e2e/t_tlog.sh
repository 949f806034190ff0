#!/bin/bash
# The signed audit trail (docs/audit.md): every finished job gets an
# execution receipt and every security event a record, each a DSSE envelope
# around an in-toto Statement in an RFC 6962 log with signed C2SP
# checkpoints.  A checkpoint and every envelope are verified by an
# independent verifier written here from the documented formats (Python's
# standard library and python3-nacl, no Atlas code); then entries are
# deleted, reordered, rewritten and inserted directly in the SQLite store
# and `atlas audit verify` must name each index, through the daemon and
# offline on the exported bundle.
. "$(dirname "$0")/lib.sh"
/usr/bin/python3 -c 'import nacl.signing' 2>/dev/null || { log "skip: python3-nacl missing"; exit 77; }
command -v sqlite3 >/dev/null || { log "skip: sqlite3 missing"; exit 77; }

cat >"$T/config.yaml" <<'YAML'
audit:
  origin: example.org/atlas-e2e
YAML
start_daemon --config "$T/config.yaml"
atlas register --path "$EXAMPLES/word-count" >/dev/null
for i in 1 2 3; do atlas run word-count --input "{\"text\": \"one $i\"}" >/dev/null; done
atlas audit checkpoint >"$T/cp1.note"
expect_eq "checkpoint: the origin line" "$(head -1 "$T/cp1.note")" "example.org/atlas-e2e"
expect_contains "checkpoint: a signature line" "$(tail -1 "$T/cp1.note")" "— example.org/atlas-e2e "
http POST /api/v1/secrets/E2E_SECRET '{"value": "s3cret"}'
for i in 4 5 6 7; do atlas run word-count --input "{\"text\": \"two $i\"}" >/dev/null; done

# the HTTP surface: log, checkpoint, proofs
http GET /api/v1/audit/log
size=$(echo "$HTTP_BODY" | j 'd["size"]')
VKEY=$(echo "$HTTP_BODY" | j 'd["vkey"]')
expect_eq "log: 7 receipts and the secret event (at least)" "$(echo "$HTTP_BODY" | j 'd["size"] >= 8')" "True"
http GET /api/v1/audit/checkpoint "" -H 'Accept: text/plain'
expect_eq "checkpoint as text/plain: the size line" "$(echo "$HTTP_BODY" | sed -n 2p)" "$size"
http GET "/api/v1/audit/proof/inclusion?index=2&size=$size"
expect_eq "inclusion proof" "$HTTP_CODE $(echo "$HTTP_BODY" | j 'len(d["hashes"]) > 0')" "200 True"
http GET "/api/v1/audit/proof/consistency?from=3&to=$size"
expect_eq "consistency proof" "$HTTP_CODE" 200
http GET "/api/v1/audit/proof/inclusion?index=$size"
expect_eq "inclusion past the end: 400" "$HTTP_CODE" 400

run_rc rc atlas audit verify --from "$T/cp1.note" --key "$VKEY"
expect_eq "verify: clean log" "$rc" 0
expect_contains "verify: says ok" "$(cat "$T/out")" "ok: "
atlas audit export --out "$T/clean.json" 2>/dev/null
expect_eq "receipts carry job, agent digest, input/output digests, node" "$(/usr/bin/python3 - "$T/clean.json" <<'PY'
import base64, json, sys
b = json.load(open(sys.argv[1]))
r = [json.loads(base64.b64decode(json.loads(e["envelope"])["payload"]))["predicate"]["record"]
     for e in b["entries"] if e["kind"] == "receipt"]
print(len(r) >= 7 and all(x["job"].startswith("job_") and x["agent"]["digest"].startswith("sha256:")
      and x["input_digest"].startswith("sha256:") and x["output_digest"].startswith("sha256:")
      and x["node"] and x["result"] == "completed" for x in r))
PY
)" "True"
expect_eq "records from before the trail started are in it: the first start's admin token.create" "$(/usr/bin/python3 - "$T/clean.json" <<'PY'
import base64, json, sys
b = json.load(open(sys.argv[1]))
r = [json.loads(base64.b64decode(json.loads(e["envelope"])["payload"]))["predicate"]["record"]
     for e in b["entries"][:3] if e["kind"] == "event"]
print([(x["event"], x["action"]) for x in r if x["event"] == "token.create"])
PY
)" "[('token.create', 'create admin token')]"

# the independent verifier: from docs/audit.md alone
cat >"$T/indep.py" <<'PY'
import base64, hashlib, json, sys
from nacl.signing import VerifyKey
b = json.load(open(sys.argv[1]))
vkey = sys.argv[2]
name, keyid_hex, key64 = vkey.split("+", 2)
raw = base64.b64decode(key64)
assert raw[0] == 1 and len(raw) == 33, "an Ed25519 verifier key"
pk = raw[1:]
# C2SP signed-note: key ID = SHA-256(name || 0x0A || 0x01 || key)[:4]
kid = hashlib.sha256(name.encode() + b"\n\x01" + pk).digest()[:4]
assert kid.hex() == keyid_hex, "key ID"
vk = VerifyKey(pk)
note = b["checkpoints"][-1]
text, sigs = note.split("\n\n", 1)
text += "\n"
ok = False
for line in sigs.splitlines():
    assert line.startswith("\u2014 "), line
    n, s = line[2:].split(" ")
    s = base64.b64decode(s)
    if n == name and s[:4] == kid:
        vk.verify(text.encode(), s[4:])
        ok = True
assert ok, "no signature by the log key"
origin, size, root64 = text.splitlines()[:3]
assert origin == name
size = int(size)
# RFC 6962 Merkle tree hash over the entries, leaf = SHA-256(0x00 || envelope)
def mth(d):
    if len(d) == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = 1
    while k * 2 < len(d):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(d[:k]) + mth(d[k:])).digest()
leaves = [e["envelope"].encode() for e in b["entries"]]
assert base64.b64decode(root64) == mth(leaves[:size]), "root"
# every DSSE envelope: PAE, Ed25519, the in-toto Statement naming its index
for i, e in enumerate(b["entries"][:size]):
    env = json.loads(e["envelope"])
    body = base64.b64decode(env["payload"])
    t = env["payloadType"]
    assert t == "application/vnd.in-toto+json"
    pae = b"DSSEv1 %d %s %d %s" % (len(t), t.encode(), len(body), body)
    vk.verify(pae, base64.b64decode(env["signatures"][0]["sig"]))
    st = json.loads(body)
    assert st["_type"] == "https://in-toto.io/Statement/v1"
    assert st["predicate"]["log"]["index"] == i
    rec = json.dumps(st["predicate"]["record"], sort_keys=True, separators=(",", ":"))
    assert st["subject"][0]["digest"]["sha256"] == hashlib.sha256(rec.encode()).hexdigest()
print("verified", size)
PY
expect_contains "independent verifier: checkpoint, tree and envelopes" "$(/usr/bin/python3 "$T/indep.py" "$T/clean.json" "$VKEY" 2>&1)" "verified"

# tamper with the store while the daemon is down
stop_daemon
run_rc rc atlas audit verify --bundle "$T/clean.json" --from "$T/cp1.note"
expect_eq "offline verify of the clean bundle, no daemon" "$rc" 0
/usr/bin/python3 - "$DATA/atlas.db" <<'PY'
import base64, json, sqlite3, sys
from nacl.signing import SigningKey
db = sqlite3.connect(sys.argv[1])
rows = dict(db.execute("SELECT idx, envelope FROM tlog_entries"))
n = max(rows) + 1
db.execute("DELETE FROM tlog_entries WHERE idx = 2")                        # deletion
db.execute("UPDATE tlog_entries SET envelope = ? WHERE idx = 4", (rows[5],))  # reordering
db.execute("UPDATE tlog_entries SET envelope = ? WHERE idx = 5", (rows[4],))
env = json.loads(rows[6])                                                    # rewrite
st = json.loads(base64.b64decode(env["payload"]))
st["predicate"]["record"]["result"] = "failed"
env["payload"] = base64.b64encode(json.dumps(st).encode()).decode()
db.execute("UPDATE tlog_entries SET envelope = ? WHERE idx = 6", (json.dumps(env).encode(),))
db.execute("INSERT INTO tlog_entries VALUES(?, 'receipt', 0, ?)", (n, rows[1]))  # replayed copy
env = json.loads(rows[3])                                                    # forged insertion
body = base64.b64decode(env["payload"])
t = env["payloadType"].encode()
sk = SigningKey.generate()
pae = b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)
env["signatures"] = [{"keyid": env["signatures"][0]["keyid"],
                      "sig": base64.b64encode(sk.sign(pae).signature).decode()}]
db.execute("INSERT INTO tlog_entries VALUES(?, 'receipt', 0, ?)", (n + 1, json.dumps(env).encode()))
db.commit()
print(n)
PY
n=$(sqlite3 "$DATA/atlas.db" "SELECT max(idx) - 1 FROM tlog_entries")
start_daemon --config "$T/config.yaml"
expect_contains "the daemon notices at start" "$(cat "$T/atlasd.log")" "entry 3 is stored where 2 was expected"
http POST /api/v1/audit/checkpoint
expect_eq "and signs no checkpoint over the tampered log" "$HTTP_CODE" 409

check_report() { # $1: what, $2: report JSON file
    /usr/bin/python3 - "$2" "$n" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
got = {(p["problem"], p["index"]) for p in r["problems"]}
want = {("deleted", 2), ("reordered", 4), ("rewritten", 6), ("inserted", n), ("inserted", n + 1)}
missing = want - got
print("ok" if not missing and not r["ok"] else "missing %s in %s" % (missing, sorted(got, key=str)))
PY
}
run_rc rc atlas audit verify --json
expect_eq "verify through the daemon: exit 1" "$rc" 1
expect_eq "names the deleted, reordered, rewritten and inserted indexes" "$(check_report x "$T/out")" "ok"
run_rc rc atlas audit verify
expect_contains "text report: the deletion" "$(cat "$T/out")" "index 2: deleted"
expect_contains "text report: the rewrite" "$(cat "$T/out")" "index 6: rewritten"
expect_contains "text report: TAMPERED" "$(cat "$T/out")" "TAMPERED"
run_rc rc atlas audit verify --from "$T/cp1.note"
expect_contains "--from: the log does not extend the kept checkpoint" "$(cat "$T/out")" "not an extension of the --from checkpoint"
atlas audit export --out "$T/bad.json" 2>/dev/null
stop_daemon
run_rc rc atlas audit verify --bundle "$T/bad.json" --json
expect_eq "offline, on the exported bundle: exit 1" "$rc" 1
expect_eq "offline: names each index" "$(check_report x "$T/out")" "ok"
run_rc rc atlas audit verify --bundle "$T/clean.json" --key "other.org/log+00000000+AQ$(printf '%042d' 0)="
expect_eq "a key that is not the trusted one: refused" "$rc" 1
finish
