#!/usr/bin/env bash
# Follows docs/DEPLOY.md by hand on the namespace network, each namespace standing for a machine:
# the ceremony (`testnet init --hosts`), copying each validator's files to "its host" (a directory
# per namespace), the firewall of §1 (iptables inside each namespace), starting each validator
# with the unit's ExecStart line, a transfer through a host's loopback API, a rolling upgrade of
# all four validators one at a time while transfers keep committing (§5), and the metrics of §6.
# Root only. Deviations from a real machine: no systemd (the ExecStart line runs in the
# namespace), no separate service user, and the "new" binary is the same file.
#
#   testnet/deploy-rehearsal.sh        uses $BFTLEDGER_BIN or target/release/bftledger
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$(mktemp -d -t bftledger-deploy.XXXXXX)"
export BFTLEDGER_NETNS_DIR="$WORK/net"
export BFTLEDGER_NETNS_PREFIX="${BFTLEDGER_NETNS_PREFIX:-bfd}"
export BFTLEDGER_NETNS_SUBNET="${BFTLEDGER_NETNS_SUBNET:-10.216.0}"
BIN="${BFTLEDGER_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/bftledger/target}/release/bftledger}"
NETNS="$ROOT/testnet/netns.sh"
P="$BFTLEDGER_NETNS_PREFIX"
HOSTS=()
for i in 0 1 2 3; do HOSTS+=("$BFTLEDGER_NETNS_SUBNET.$((10 + i))"); done
READY_TIMEOUT_S=60

[ "$(id -u)" -eq 0 ] || { echo "deploy-rehearsal: needs root (network namespaces)" >&2; exit 1; }
[ -x "$BIN" ] || { echo "deploy-rehearsal: no binary at $BIN" >&2; exit 1; }
log() { echo "deploy-rehearsal: $*"; }
fail() { echo "deploy-rehearsal: FAILED: $*" >&2; exit 1; }
host_dir() { echo "$WORK/host$1"; }
on() { local i="$1"; shift; ip netns exec "$P-n$i" "$@"; }
# The bftledger of host i, as installed in §2 (its own copy, replaced in §5).
bft() { local i="$1"; shift; on "$i" "$(host_dir "$i")/usr/local/bin/bftledger" "$@"; }

cleanup() {
  for i in 0 1 2 3; do
    local pid
    pid="$(cat "$(host_dir "$i")/pid" 2>/dev/null || true)"
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
  done
  sleep 1
  "$NETNS" down --clean >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

log "four hosts without software: $("$NETNS" net --nodes 4 | tr '\n' ';')"

# §2 the ceremony, on a trusted machine (here: the root namespace).
"$BIN" testnet init --hosts "$(IFS=,; echo "${HOSTS[*]}")" --chain-id mychain-1 --accounts 1 \
  --balance 1000000000000 --dir "$WORK/ceremony" >/dev/null
# §2 copy to each host only what it needs; §3 the key stays 0600.
for i in 0 1 2 3; do
  h="$(host_dir "$i")"
  mkdir -p "$h/var/lib/bftledger" "$h/usr/local/bin"
  cp "$WORK/ceremony/genesis.toml" "$h/var/lib/bftledger/genesis.toml"
  cp -r "$WORK/ceremony/node$i" "$h/var/lib/bftledger/node"
  chmod 600 "$h/var/lib/bftledger/node/validator.key"
  install -m 0755 "$BIN" "$h/usr/local/bin/bftledger"
done
rm -f "$WORK"/ceremony/node*/validator.key
log "ceremony done; each host holds its node directory and the genesis; the ceremony keys are deleted"

# §1 the firewall of each host: p2p from the other validators only, the API on loopback only.
for i in 0 1 2 3; do
  for j in 0 1 2 3; do
    [ "$i" = "$j" ] || on "$i" iptables -A INPUT -p tcp --dport 26600 -s "${HOSTS[$j]}" -j ACCEPT
  done
  on "$i" iptables -A INPUT -p tcp --dport 26600 -j DROP
  on "$i" iptables -A INPUT -p tcp --dport 26700 ! -i lo -j DROP
done

start() {
  local i="$1" h
  h="$(host_dir "$i")"
  # The unit's ExecStart line, with this host's paths.
  setsid ip netns exec "$P-n$i" "$h/usr/local/bin/bftledger" node \
    --config "$h/var/lib/bftledger/node/config.toml" >>"$h/node.log" 2>&1 </dev/null &
  echo $! >"$h/pid"
}
stop() {
  local i="$1" pid
  pid="$(cat "$(host_dir "$i")/pid")"
  kill -s TERM "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  fail "node$i did not stop within 20 s of SIGTERM"
}
wait_ready() {
  local i="$1" deadline=$(( $(date +%s) + READY_TIMEOUT_S ))
  until on "$i" curl -fsS http://127.0.0.1:26700/health/ready >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "node$i not ready within ${READY_TIMEOUT_S}s: $(tail -n 5 "$(host_dir "$i")/node.log")"
    sleep 0.5
  done
}
height() { bft "$1" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["height"])'; }

for i in 0 1 2 3; do start "$i"; done
for i in 0 1 2 3; do wait_ready "$i"; done
log "§4: all four validators ready (checked with curl on each host's loopback /health/ready)"

# The API is not reachable from another host (§1), the p2p port is.
! ip netns exec "$P-gen" curl -fsS -m 2 "http://${HOSTS[0]}:26700/health/live" >/dev/null 2>&1 \
  || fail "host0's API answers from the network"
log "§1: the API does not answer from another machine"

KEY="$WORK/ceremony/accounts/account-0.key"
TO="$("$BIN" address --key "$(host_dir 1)/var/lib/bftledger/node/validator.key")"
cp "$KEY" "$(host_dir 0)/funds.key"
bft 0 transfer --key "$(host_dir 0)/funds.key" --to "$TO" --amount 5 --wait >/dev/null \
  || fail "a transfer through host0's API did not commit"
log "a transfer through host0's loopback API committed"

# §5 rolling upgrade, while a client keeps submitting through host 0 or 1.
acked="$WORK/acked"; : >"$acked"
(
  while [ ! -f "$WORK/stop-load" ]; do
    via=0; [ -f "$WORK/load-via-1" ] && via=1
    cp "$KEY" "$(host_dir "$via")/funds.key" 2>/dev/null || true
    if bft "$via" --timeout-ms 5000 transfer --key "$(host_dir "$via")/funds.key" --to "$TO" --amount 1 \
        --wait --wait-ms 20000 >/dev/null 2>&1; then echo ok >>"$acked"; fi
  done
) &
load=$!
for i in 0 1 2 3; do
  if [ "$i" = 0 ]; then touch "$WORK/load-via-1"; else rm -f "$WORK/load-via-1"; fi
  sleep 2
  before="$(wc -l <"$acked")"
  stop "$i"
  install -m 0755 "$BIN" "$(host_dir "$i")/usr/local/bin/bftledger"   # the "new" release
  start "$i"
  wait_ready "$i"
  others="$(height $(( (i + 1) % 4 )))"
  deadline=$(( $(date +%s) + 30 ))
  until [ "$(height "$i")" -ge "$others" ]; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "node$i did not catch up after its upgrade"
    sleep 0.5
  done
  log "§5: node$i upgraded, ready and caught up (height >= $others); $(( $(wc -l <"$acked") - before )) transfers committed meanwhile"
done
touch "$WORK/stop-load"
wait "$load" || true
[ "$(wc -l <"$acked")" -ge 8 ] || fail "too few transfers committed during the rolling upgrade: $(wc -l <"$acked")"
log "§5: $(wc -l <"$acked") transfers committed during the rolling upgrade of all four validators"

# §6 every metric the monitoring table names exists (the counters with a reason label appear at
# their first increment, as the table says; their names are checked in node/src/metrics.rs).
metrics="$(on 2 curl -fsS http://127.0.0.1:26700/metrics)"
for m in bftledger_committed_height bftledger_peers bftledger_view bftledger_catching_up \
    bftledger_commit_latency_seconds_bucket bftledger_mempool_size bftledger_resident_memory_bytes; do
  grep -q "^$m" <<<"$metrics" || fail "metric $m is missing"
done
log "§6: every metric of the monitoring table is exported"
echo "deploy-rehearsal: passed"
