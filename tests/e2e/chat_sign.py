"""Signs and sends requests the way Slack and Discord do, for e2e.trigger_chat.

  chat_sign.py slack URL SECRET TS CONTENT_TYPE BODY [SIGNATURE]
      X-Slack-Request-Timestamp: TS, X-Slack-Signature: v0=HMAC-SHA256(SECRET,
      "v0:TS:BODY") (or SIGNATURE as given)
  chat_sign.py discord URL SEED_HEX TS BODY [SIGNATURE]
      X-Signature-Timestamp: TS, X-Signature-Ed25519: Ed25519(key from SEED,
      TS + BODY) (or SIGNATURE as given), with PyNaCl (python3-nacl)
  chat_sign.py discord-key SEED_HEX      prints the public key (hex)

Prints "STATUS BODY".  TS "now" is the current time, "now-N" N seconds ago."""

import hashlib
import hmac
import sys
import time
import urllib.error
import urllib.request


def ts_of(v):
    if v.startswith("now"):
        return str(int(time.time()) - (int(v[4:]) if len(v) > 3 else 0))
    return v


def send(url, body, headers):
    req = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            print(r.status, r.read().decode())
    except urllib.error.HTTPError as e:
        print(e.code, e.read().decode())


def main():
    cmd = sys.argv[1]
    if cmd == "slack":
        url, secret, ts, ct, body = sys.argv[2:7]
        ts = ts_of(ts)
        sig = sys.argv[7] if len(sys.argv) > 7 else "v0=" + hmac.new(
            secret.encode(), ("v0:%s:%s" % (ts, body)).encode(), hashlib.sha256).hexdigest()
        send(url, body, {"Content-Type": ct, "X-Slack-Request-Timestamp": ts,
                         "X-Slack-Signature": sig})
        return
    try:
        import nacl.signing
    except ImportError:
        sys.exit(77)
    key = nacl.signing.SigningKey(bytes.fromhex(sys.argv[2] if cmd == "discord-key" else sys.argv[3]))
    if cmd == "discord-key":
        print(key.verify_key.encode().hex())
        return
    url, ts, body = sys.argv[2], ts_of(sys.argv[4]), sys.argv[5]
    sig = sys.argv[6] if len(sys.argv) > 6 else key.sign((ts + body).encode()).signature.hex()
    send(url, body, {"Content-Type": "application/json", "X-Signature-Timestamp": ts,
                     "X-Signature-Ed25519": sig})


if __name__ == "__main__":
    main()
