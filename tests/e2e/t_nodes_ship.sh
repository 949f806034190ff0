#!/bin/bash
# Agent files go over the wire (docs/scheduling.md "Agent files"): a node
# that does not have an agent version fetches it from the control plane's
# registry (/v2/, its node token).  The node runs in a mount namespace where
# the control plane's data directory (the agents' snapshots) is an empty
# tmpfs, and the source directory is removed after `atlas register`, so the
# files can only have come over the wire; the second run does not fetch
# again (cached by digest); a re-registered version (--force, other content)
# is fetched again.  Skips (77) where no mount namespace can be made.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nodes_lib.sh"
mkdir -p "$DATA"

# the mount namespace that hides the control plane's files from the node
cat >"$T/hide.sh" <<'SH'
#!/bin/sh
mount -t tmpfs tmpfs "$HIDE_DIR" || exit 97
exec "$@"
SH
chmod +x "$T/hide.sh"
UNSHARE="unshare -m"
[ "$(id -u)" = 0 ] || UNSHARE="unshare -r -m"
mkdir -p "$T/probe"
touch "$T/probe/seen"
if ! HIDE_DIR=$T/probe $UNSHARE "$T/hide.sh" sh -c '[ ! -e "$0/seen" ]' "$T/probe" 2>/dev/null; then
    log "SKIP: cannot make a mount namespace here (unshare -m)"
    exit 77
fi

cat >"$T/config.yaml" <<'YAML'
node:
  resources: {cpu_cores: 2, memory_gb: 1, gpus: []}
scheduling:
  node_failure: {detection_timeout: 5}
YAML
start_daemon --config "$T/config.yaml"

# ---- agent files over the wire ----
src=$(with_hw "$AGENTS/idem" ship8 'min_memory_gb: 8')
atlas register --path "$src" >/dev/null 2>&1
rm -rf "$src"
NODE_WRAP="$UNSHARE $T/hide.sh"
export HIDE_DIR=$DATA
start_node s1 '  resources: {cpu_cores: 8, memory_gb: 32, gpus: []}'
NODE_WRAP=
wait_node s1 ready
wait_connected s1
out=$(atlas --json run ship8 --input '{"ms": 50}')
expect_eq "the node ran an agent whose files it could not see" "$(echo "$out" | j 'd["ms"]')" "50"
expect_eq "it was fetched from the control plane once" "$(grep -c 'agent ship8:1.0.0 fetched from the control plane' "$T/node-s1.log")" "1"
NTOK=$(cat "$T/n-s1/admin.token")
NURL=$(cat "$T/n-s1/atlasd.url")
cp_digest=$(curl -s "$ATLAS_URL/api/v1/agents/ship8" | j 'd["digest"]')
expect_eq "the node registered it with the control plane's digest" "$(curl -s -H "Authorization: Bearer $NTOK" "$NURL/api/v1/agents/ship8" | j 'd["digest"]')" "$cp_digest"
atlas run ship8 --input '{"ms": 10}' >/dev/null
expect_eq "the second run does not fetch again" "$(grep -c 'agent ship8:1.0.0 fetched from the control plane' "$T/node-s1.log")" "1"
# the same version with other content: fetched again, and the new one runs
src=$(with_hw "$AGENTS/idem" ship8 'min_memory_gb: 8')
printf '# changed\n' >>"$src/agent.yaml"
atlas register --force --path "$src" >/dev/null 2>&1
rm -rf "$src"
cp2=$(curl -s "$ATLAS_URL/api/v1/agents/ship8" | j 'd["digest"]')
atlas run ship8 --input '{"ms": 10}' >/dev/null
expect_eq "a re-registered version is fetched again" "$(grep -c 'agent ship8:1.0.0 fetched from the control plane' "$T/node-s1.log") $([ "$cp2" != "$cp_digest" ] && echo new)" "2 new"
expect_eq "and the node has the new content" "$(curl -s -H "Authorization: Bearer $NTOK" "$NURL/api/v1/agents/ship8" | j 'd["digest"]')" "$cp2"

finish_nodes
