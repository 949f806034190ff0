#!/bin/bash
# The node's cache of fetched agent versions is bounded (docs/scheduling.md
# "The cache"): with node.cache.max_mb smaller than one version, fetching a
# version prunes the least recently used others (their blobs in
# DATA/node-cache and their registration on the node), never one that runs;
# a pruned version assigned again is fetched again and runs.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nodes_lib.sh"
mkdir -p "$DATA"
cat >"$T/config.yaml" <<'YAML'
node:
  resources: {cpu_cores: 2, memory_gb: 1, gpus: []}
scheduling:
  node_failure: {detection_timeout: 5}
YAML
start_daemon --config "$T/config.yaml"
for a in c1 c2 c3; do
    atlas register --path "$(with_hw "$AGENTS/idem" "$a" 'min_memory_gb: 8')" >/dev/null 2>&1
done
start_node k1 '  resources: {cpu_cores: 8, memory_gb: 32, gpus: []}
  cache: {max_mb: 0.000001}'
wait_node k1 ready
wait_connected k1
NTOK=$(cat "$T/n-k1/admin.token")
NURL=$(cat "$T/n-k1/atlasd.url")
on_node() { curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $NTOK" "$NURL/api/v1/agents/$1"; }
fetched() { grep -c "agent $1:1.0.0 fetched from the control plane" "$T/node-k1.log"; }
manifest_of() { grep "agent $1:1.0.0 fetched" "$T/node-k1.log" | tail -n 1 | sed -E 's/.*manifest sha256:([0-9a-f]{64}).*/\1/'; }
blob() { [ -f "$T/n-k1/node-cache/blobs/sha256/$1" ] && echo present || echo gone; }

atlas run c1 --input '{"ms": 1}' >/dev/null
m1=$(manifest_of c1)
expect_eq "c1 is fetched and registered on the node" "$(fetched c1) $(on_node c1) $(blob "$m1")" "1 200 present"
atlas run c2 --input '{"ms": 1}' >/dev/null
wait_grep 'cache: agent c1:1.0.0 pruned' "$T/node-k1.log"
expect_eq "fetching c2 pruned c1 (least recently used): its registration and blobs" "$(on_node c1) $(blob "$m1") $(on_node c2)" "404 gone 200"
expect_eq "the last uses are kept beside the cache" "$(j 'sorted(d)' <"$T/n-k1/node-cache/atlas-uses.json")" "['c2:1.0.0']"

# a running version is never pruned
b=$(atlas run c2 --async --input '{"ms": 4000}')
wait_job_on "$b" k1 running
wait_node_running k1 1
atlas run c3 --input '{"ms": 1}' >/dev/null
expect_eq "c3 ran while c2 ran: c2 was not pruned" "$(grep -c 'cache: agent c2:1.0.0 pruned' "$T/node-k1.log") $(on_node c2) $(on_node c3)" "0 200 200"
wait_grep 'every version in it runs or is about to' "$T/node-k1.log"
pass "the node said why the cache stays over its bound"
wait_job_state "$b" completed

# a pruned version comes back when assigned again
out=$(atlas --json run c1 --input '{"ms": 7}')
expect_eq "c1 runs again after its prune" "$(echo "$out" | j 'd["ms"]')" "7"
expect_eq "it was fetched again" "$(fetched c1)" "2"
wait_grep 'cache: agent c2:1.0.0 pruned' "$T/node-k1.log"
wait_grep 'cache: agent c3:1.0.0 pruned' "$T/node-k1.log"
expect_eq "the finished c2 and the older c3 went" "$(on_node c2) $(on_node c3) $(j 'sorted(d)' <"$T/n-k1/node-cache/atlas-uses.json")" "404 404 ['c1:1.0.0']"
# what no cached version needs is not left in the blob store: the
# manifest, its config and its layer of c1 (signatures: none here)
expect_eq "only c1's blobs are left" "$(ls "$T/n-k1/node-cache/blobs/sha256" | wc -l)" "3"
# the snapshots of pruned versions are collected by the node's registry
# once no warm process holds them (at the next prune here)
atlas run c2 --input '{"ms": 1}' >/dev/null
wait_grep 'cache: agent c1:1.0.0 pruned' "$T/node-k1.log"
snaps=$(ls -d "$T/n-k1/agents"/sha256-* 2>/dev/null | wc -l)
if [ "$snaps" -le 2 ]; then pass "the pruned versions' snapshots are collected ($snaps left)"; else fail "$snaps snapshots left on the node"; fi

finish_nodes
