#!/bin/bash
# The TPM co-signer of the audit trail (docs/audit.md "TPM") against a real
# software TPM (swtpm, TCP): every execution receipt carries a second DSSE
# signature, ECDSA P-256 by a TPM primary key, which an independent verifier
# written here from the documented format (python3-cryptography, no Atlas
# code) checks; `atlas audit verify` counts the co-signed receipts; a restart
# on the same TPM state gets the same key; a TPM that cannot be reached
# keeps atlasd from starting.
. "$(dirname "$0")/lib.sh"
command -v swtpm >/dev/null || { log "skip: swtpm missing"; exit 77; }
/usr/bin/python3 -c 'import cryptography.hazmat.primitives.asymmetric.ec' 2>/dev/null ||
    { log "skip: python3-cryptography missing"; exit 77; }

# two free ports in a row: the swtpm TCTI reaches the control channel at port + 1
free_pair() { /usr/bin/python3 -c '
import socket
for _ in range(200):
    a = socket.socket(); a.bind(("127.0.0.1", 0)); p = a.getsockname()[1]
    b = socket.socket()
    try:
        b.bind(("127.0.0.1", p + 1))
    except OSError:
        continue
    print(p)
    break'; }
mkdir -p "$T/tpm"
start_tpm() {
    sp=$(free_pair)
    cp=$((sp + 1))
    swtpm socket --tpm2 --tpmstate dir="$T/tpm" --server type=tcp,port="$sp",bindaddr=127.0.0.1 \
        --ctrl type=tcp,port="$cp",bindaddr=127.0.0.1 --flags not-need-init >"$T/swtpm.log" 2>&1 &
    TPM_PID=$!
    tpm_up() { /usr/bin/python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$sp" 2>/dev/null; }
    wait_for tpm_up || { log "swtpm did not start:"; cat "$T/swtpm.log" >&2; exit 1; }
}
stop_tpm() { if [ -n "${TPM_PID:-}" ]; then kill "$TPM_PID" 2>/dev/null || true; wait "$TPM_PID" 2>/dev/null || true; TPM_PID=; fi; }
trap 'stop_tpm; cleanup' EXIT

start_tpm
printf 'audit:\n  tpm: "swtpm:host=127.0.0.1,port=%s"\n' "$sp" >"$T/config.yaml"
start_daemon --config "$T/config.yaml"
atlas register --path "$EXAMPLES/word-count" >/dev/null
for i in 1 2 3; do atlas run word-count --input "{\"text\": \"tpm $i\"}" >/dev/null; done

http GET /api/v1/audit/log
key1=$(echo "$HTTP_BODY" | j 'd["cosigner"]')
expect_contains "the log names its TPM co-signer" "$key1" "tpm:"
run_rc rc atlas --json audit verify
expect_eq "atlas audit verify: ok, with the receipts co-signed" \
    "$rc $(j 'd["cosigned_receipts"] >= 3' <"$T/out")" "0 True"
atlas audit export --out "$T/b.json" 2>/dev/null
expect_eq "an independent verifier checks every receipt's TPM signature" "$(/usr/bin/python3 - "$T/b.json" <<'PY'
import base64, hashlib, json, sys
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
b = json.load(open(sys.argv[1]))
co = b["cosigner"]
assert co["public_key"].startswith("p256:"), co
point = base64.b64decode(co["public_key"][5:])
assert len(point) == 65 and point[0] == 4
assert co["keyid"] == "tpm:" + hashlib.sha256(point).hexdigest()[:16], co
pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
ok = bad = 0
for e in b["entries"]:
    if e["kind"] != "receipt":
        continue
    env = json.loads(e["envelope"])
    payload = base64.b64decode(env["payload"])
    t = env["payloadType"].encode()
    pae = b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)
    sigs = [s for s in env["signatures"] if s["keyid"] == co["keyid"]]
    if len(sigs) != 1:
        bad += 1
        continue
    raw = base64.b64decode(sigs[0]["sig"])
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        pub.verify(der, pae, ec.ECDSA(hashes.SHA256()))
        ok += 1
        # the same signature over other bytes must fail
        try:
            pub.verify(der, pae + b" ", ec.ECDSA(hashes.SHA256()))
            bad += 1
        except InvalidSignature:
            pass
    except InvalidSignature:
        bad += 1
print(ok >= 3 and bad == 0)
PY
)" "True"

# the same TPM state after a restart of both: the same key
stop_daemon
stop_tpm
start_tpm
printf 'audit:\n  tpm: "swtpm:host=127.0.0.1,port=%s"\n' "$sp" >"$T/config.yaml"
start_daemon --config "$T/config.yaml"
atlas run word-count --input '{"text": "after"}' >/dev/null
http GET /api/v1/audit/log
expect_eq "the key is the same after a restart on the same TPM" "$(echo "$HTTP_BODY" | j 'd["cosigner"]')" "$key1"
run_rc rc atlas --json audit verify
expect_eq "and the whole log still verifies" "$rc" "0"
stop_daemon

# a TPM that is not there: atlasd refuses to start, saying why
stop_tpm
printf 'audit:\n  tpm: "swtpm:host=127.0.0.1,port=%s"\n' "$sp" >"$T/config.yaml"
run_rc rc timeout 30 env -u ATLAS_TOKEN "$BIN/atlasd" --data "$DATA" --listen 127.0.0.1:0 --config "$T/config.yaml"
expect_eq "no TPM: atlasd does not start" "$([ "$rc" -ne 0 ] && echo refused)" "refused"
expect_contains "and says it is the TPM" "$(cat "$T/out" "$T/err" 2>/dev/null)" "TPM"
finish
