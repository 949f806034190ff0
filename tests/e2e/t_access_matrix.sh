#!/bin/bash
# The access-control matrix (docs/security.md "Roles"): every route and
# every MCP platform tool, times every role, expecting what the one table
# (security/access.c, served at GET /api/v1/access) says: 401 without a
# token, 403 with a role that lacks an action the route needs, neither
# with one that has them.  The routes come from the daemon's own table, so
# a new route is in the matrix at once, and a route without a rule (needs
# nothing) that is not on the short public list fails here.
. "$(dirname "$0")/lib.sh"
start_daemon
for role in operator developer viewer node reviewer; do
    tok=$(new_token "matrix-$role" "$role")
    [ -n "$tok" ] || { fail "cannot create a $role token"; finish; exit 1; }
    printf '%s %s\n' "$role" "$tok" >>"$T/tokens"
done
printf 'admin %s\n' "$ATLAS_TOKEN" >>"$T/tokens"
# an admin token narrowed to one agent: every route not on the daemon's
# list of routes open to such tokens must refuse it (closed by default)
narrowed=$(curl -sS -X POST -H 'Content-Type: application/json' \
    --data-binary '{"name":"matrix-narrowed","role":"admin","scopes":["agent:matrix-nope"]}' \
    "$ATLAS_URL/api/v1/tokens" | j 'd["token"]')
printf '%s\n' "$narrowed" >"$T/narrowed"
# and one narrowed to one chain: the same, and no route about an agent
curl -sS -X POST -H 'Content-Type: application/json' \
    --data-binary '{"name":"matrix-chain","role":"admin","scopes":["chain:matrix-nope"]}' \
    "$ATLAS_URL/api/v1/tokens" | j 'd["token"]' >>"$T/narrowed"

/usr/bin/python3 - "$ATLAS_URL" "$T/tokens" "$T/narrowed" >"$T/matrix" 2>&1 <<'PY'
import http.client, json, re, sys, urllib.parse

url, tokfile = sys.argv[1], sys.argv[2]
narrowed, chain_narrowed = open(sys.argv[3]).read().split()
u = urllib.parse.urlparse(url)
tokens = dict(line.split() for line in open(tokfile))
# webhooks authenticate by their trigger's signature, WebSocket conversations by
# none (docs/triggers.md)
PUBLIC = {("GET", "/api/v1/health/live"), ("GET", "/api/v1/health/ready"),
          ("GET", "/api/v1/whoami"), ("POST", "/hooks/{path*}"), ("GET", "/hooks/{path*}"),
          # the dashboard's files (no data: it reads /api/v1 with a token)
          ("GET", "/ui"), ("GET", "/ui/{path*}")}
fails = checks = 0

def req(method, path, token=None, body=None, headers=None):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    h = dict(headers or {})
    if token:
        h["Authorization"] = "Bearer " + token
    if body is not None:
        h["Content-Type"] = "application/json"
    c.request(method, path, body, h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data

def check(what, ok):
    global fails, checks
    checks += 1
    if not ok:
        fails += 1
        print("FAIL", what)

st, body = req("GET", "/api/v1/access", tokens["admin"])
table = json.loads(body)
roles = {k: set(v) for k, v in table["roles"].items()}
check("the table has every role", set(roles) >= {"admin", "operator", "developer", "viewer", "reviewer",
                                                 "node", "job"})
check("admin may do everything", all(set(r["needs"]) <= roles["admin"] for r in table["routes"]))

for r in table["routes"]:
    method = "GET" if r["method"] == "*" else r["method"]
    path = re.sub(r"\{[a-z_]+\*\}", "x", r["pattern"])
    path = re.sub(r"\{[a-z_]+\}", "matrix-nope", path)
    needs = set(r["needs"])
    body = "{}" if method in ("POST", "PUT", "PATCH") else None
    key = (r["method"], r["pattern"])
    if not needs:
        check("%s %s needs nothing but is not on the public list" % key, key in PUBLIC)
        continue
    st, _ = req(method, path, None, body)
    check("%s %s without a token: %d, want 401" % (method, path, st), st == 401)
    if r["pattern"] not in table["agent_scoped_routes"]:
        st, _ = req(method, path, narrowed, body)
        check("%s %s with a token narrowed to an agent: %d, want 403" % (method, path, st),
              st == 403)
    if r["pattern"] not in table["agent_scoped_routes"] or "/agents/{" in r["pattern"]:
        st, _ = req(method, path, chain_narrowed, body)
        check("%s %s with a token narrowed to a chain: %d, want 403" % (method, path, st),
              st == 403)
    st, _ = req(method, path, "atl_not-a-token", body)
    check("%s %s with a bad token: %d, want 401" % (method, path, st), st == 401)
    for role, tok in tokens.items():
        st, data = req(method, path, tok, body)
        if needs <= roles[role] or role in r.get("or_roles", []):
            check("%s %s as %s: %d, want neither 401 nor 403" % (method, path, role, st),
                  st not in (401, 403))
        else:
            check("%s %s as %s: %d, want 403" % (method, path, role, st), st == 403)

meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}}
for t in table["mcp_tools"]:
    needs = set(t["needs"]) | {"mcp"}
    call = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": t["name"], "arguments": {"matrix_bogus": 1},
                                  "_meta": meta}})
    hdr = {"Accept": "application/json", "MCP-Protocol-Version": "2026-07-28",
           "Mcp-Method": "tools/call", "Mcp-Name": t["name"]}
    st, _ = req("POST", "/mcp", None, call, hdr)
    check("tool %s without a token: %d, want 401" % (t["name"], st), st == 401)
    for role, tok in tokens.items():
        st, data = req("POST", "/mcp", tok, call, hdr)
        if "mcp" not in roles[role]:
            check("tool %s as %s: HTTP %d, want 403" % (t["name"], role, st), st == 403)
            continue
        text = data.decode()
        denied = "does not grant" in text
        if needs <= roles[role]:
            check("tool %s as %s: refused (%s)" % (t["name"], role, text[:200]), not denied)
        else:
            check("tool %s as %s: not refused (%s)" % (t["name"], role, text[:200]), denied)
print("checked", checks, "failed", fails)
PY
cat "$T/matrix" | grep -v '^checked' | head -40 >&2 || true
summary=$(tail -n 1 "$T/matrix")
case "$summary" in
"checked "*" failed 0") pass "access matrix: $summary" ;;
*) fail "access matrix: $summary" ;;
esac
n=$(echo "$summary" | awk '{print $2}')
[ "${n:-0}" -gt 200 ] && pass "the matrix covers the routes and tools ($n checks)" ||
    fail "too few checks ($n)"
finish
