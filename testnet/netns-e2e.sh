#!/usr/bin/env bash
# End-to-end test of the namespace testnet (testnet/netns.sh): 4 validators, each in its own
# network namespace, finding each other by mDNS only (no bootstrap list at all), driven through
# netns.sh and the CLI from the client namespace. Root only. Run by scripts/test.sh; every wait
# is bounded (the whole test takes about a minute, and is cut at E2E_TIMEOUT_S).
#
#   testnet/netns-e2e.sh        uses $BFTLEDGER_BIN, or builds the release binary via netns.sh
#
# What it checks:
#   1. `up --discovery mdns`: no config has a bootstrap address; all 4 nodes become ready, each
#      connected to its 3 peers, and a first transfer commits.
#   2. CLI transfers commit; every node reports the same height and state root.
#   3. A partitioned backup (iptables in its namespace) falls behind while the other three
#      commit; after `heal` it catches up to the same block hashes.
#   4. Under the `global` profile (RTT 100 ms, jitter, loss) transfers still commit with no view
#      change.
#   5. `down --clean` leaves no node, no namespace, no device and no data behind.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$(mktemp -d -t bftledger-netns-e2e.XXXXXX)"
export BFTLEDGER_NETNS_DIR="$WORK/net"
# Names and addresses of their own, so that a user's namespace testnet is left alone.
export BFTLEDGER_NETNS_PREFIX="${BFTLEDGER_NETNS_PREFIX:-bfe}"
export BFTLEDGER_NETNS_SUBNET="${BFTLEDGER_NETNS_SUBNET:-10.215.0}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/bftledger/target}"
BIN="${BFTLEDGER_BIN:-$CARGO_TARGET_DIR/release/bftledger}"
NETNS="$ROOT/testnet/netns.sh"
NET="$BFTLEDGER_NETNS_DIR"
STEP_TIMEOUT_S=90
E2E_TIMEOUT_S=170
passed=0

[ "$(id -u)" -eq 0 ] || { echo "netns-e2e: needs root (network namespaces)" >&2; exit 1; }

cleanup() {
  "$NETNS" down --clean >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
# The whole test is bounded: a hang anywhere ends it (the EXIT trap still cleans up).
( for ((s = 0; s < E2E_TIMEOUT_S; s++)); do sleep 1; done; echo "netns-e2e: FAILED: over ${E2E_TIMEOUT_S}s" >&2; kill -s TERM $$ ) &
watchdog=$!
trap 'kill "$watchdog" 2>/dev/null || true; cleanup' EXIT

log() { echo "netns-e2e: $*"; }
fail() {
  echo "netns-e2e: FAILED: $*" >&2
  for log in "$NET"/node*/node.log; do
    [ -f "$log" ] && { echo "--- $log (last 15 lines)" >&2; tail -n 15 "$log" >&2; }
  done
  exit 1
}
ok() { log "ok: $*"; passed=$((passed + 1)); }

api() { "$NETNS" url "$1"; }
cli() { ip netns exec "$BFTLEDGER_NETNS_PREFIX-gen" "$BIN" "$@"; }
field() { python3 -c "import json,sys; v=json.load(sys.stdin); print(v$1)"; }
status_of() { cli --node "$(api "$1")" --timeout-ms 2000 status --json; }
address_of() { "$BIN" address --key "$1" --json | field '["address"]'; }

# Waits until every listed node reports the same height (>= $1) and state root; prints the root.
wait_converged() {
  local min_height="$1"; shift
  local deadline=$(( $(date +%s) + STEP_TIMEOUT_S )) seen
  while :; do
    seen="$(for i in "$@"; do status_of "$i" 2>/dev/null | field '["height"], v["state_root"]' || echo "0 none"; done | sort -u)"
    if [ "$(echo "$seen" | wc -l)" = 1 ] && [ "${seen%% *}" -ge "$min_height" ] && [[ "$seen" != *none* ]]; then
      echo "${seen#* }"
      return 0
    fi
    [ "$(date +%s)" -lt "$deadline" ] || { echo "height, root per node: $seen" >&2; return 1; }
    sleep 0.5
  done
}

# Every listed node serves the same block hash at every height 1..$1.
same_block_hashes() {
  local top="$1" h i hashes
  shift
  for ((h = 1; h <= top; h++)); do
    hashes="$(for i in "$@"; do cli --node "$(api "$i")" --json block "$h" | field '["hash"]'; done | sort -u)"
    [ "$(echo "$hashes" | wc -l)" = 1 ] || { echo "height $h: $hashes" >&2; return 1; }
  done
}

transfer() {
  local node="$1" amount="$2"
  cli --node "$(api "$node")" transfer --key "$NET/accounts/account-0.key" --to "$A1_ADDR" \
    --amount "$amount" --wait --wait-ms 30000 >/dev/null
}

if [ -z "${BFTLEDGER_BIN:-}" ]; then
  log "building the release binary"
  "$ROOT/scripts/setup.sh"
  (cd "$ROOT" && cargo build --release --locked -q -p bftledger-node --bin bftledger)
fi
export BFTLEDGER_BIN="$BIN"
started=$(date +%s)

# 1. up, mDNS only ---------------------------------------------------------------------------
log "starting 4 validators in namespaces $BFTLEDGER_NETNS_PREFIX-n0..3, mDNS discovery only"
"$NETNS" up --nodes 4 --discovery mdns >"$WORK/up.txt" 2>&1 || { cat "$WORK/up.txt" >&2; fail "netns.sh up"; }
grep -q "first block committed" "$WORK/up.txt" || fail "up did not report a committed first block"
for i in 0 1 2 3; do
  python3 - "$NET/node$i/config.toml" <<'PY' || fail "node$i's config is not mDNS-only"
import sys, tomllib
p2p = tomllib.load(open(sys.argv[1], "rb"))["p2p"]
sys.exit(0 if p2p["bootstrap"] == [] and p2p["enable_mdns"] else 1)
PY
  # Ready needs a quorum (2 peers); the third connection may come a moment later.
  deadline=$(( $(date +%s) + 30 ))
  until peers="$(status_of "$i" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["peers"]))')" \
      && [ "$peers" = 3 ]; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "node$i has ${peers:-?} peers after 30s, wanted 3"
    sleep 0.5
  done
done
ok "mDNS only (empty bootstrap lists): 4 namespaces ready, each with 3 peers, first block committed ($(( $(date +%s) - started ))s)"

# 2. transfers commit, nodes agree ----------------------------------------------------------
A1_ADDR="$(address_of "$NET/accounts/account-1.key")"
for amount in 3 5 7; do transfer 1 "$amount" || fail "transfer of $amount did not commit"; done
h="$(status_of 1 | field '["height"]')"
root="$(wait_converged "$h" 0 1 2 3)" || fail "nodes did not converge"
ok "CLI transfers committed from the client namespace; all 4 at height >= $h, state root $root"

# 3. partition one host, heal ------------------------------------------------------------------
primary="$(status_of 0 | field '["primary"]')"
victim=$(( (primary + 1) % 4 ))
others=()
for i in 0 1 2 3; do [ "$i" != "$victim" ] && others+=("$i"); done
"$NETNS" partition "$victim" >/dev/null || fail "partition $victim failed"
frozen="$(status_of "$victim" | field '["height"]')"
for amount in 1 2 3; do
  transfer "${others[0]}" "$amount" || fail "a transfer did not commit while node$victim was partitioned"
done
h="$(status_of "${others[0]}" | field '["height"]')"
[ "$(status_of "$victim" | field '["height"]')" -lt "$h" ] || fail "node$victim kept up while partitioned"
"$NETNS" status | grep -q "partitioned: node$victim" || fail "status does not show the partition"
"$NETNS" heal >/dev/null
root="$(wait_converged "$h" 0 1 2 3)" || fail "node$victim did not catch up after heal"
same_block_hashes "$h" 0 1 2 3 || fail "validators serve different block hashes after heal"
ok "partitioned node$victim froze at height $frozen while the others committed to $h; healed, it caught up (root $root)"

# 4. global profile: commits, no view change ---------------------------------------------------
view="$(status_of 0 | field '["view"]')"
"$NETNS" profile global >/dev/null
t0=$(date +%s%N)
for amount in 2 4 6; do transfer 2 "$amount" || fail "a transfer did not commit under the global profile"; done
ms=$(( ($(date +%s%N) - t0) / 3000000 ))
h="$(status_of 2 | field '["height"]')"
root="$(wait_converged "$h" 0 1 2 3)" || fail "nodes did not converge under the global profile"
for i in 0 1 2 3; do
  [ "$(status_of "$i" | field '["view"]')" = "$view" ] || fail "node$i changed view under the global profile"
done
ok "global profile (RTT 100 ms): 3 transfers committed (${ms} ms each, submit to commit seen by the client), still view $view on every node"

# 5. down --clean ------------------------------------------------------------------------------
pids="$(cat "$NET"/node*/node.pid "$NET/wanem/pid" 2>/dev/null || true)"
"$NETNS" down --clean >/dev/null
for pid in $pids; do ! kill -0 "$pid" 2>/dev/null || fail "process $pid still runs after down --clean"; done
! ip netns list | grep -q "^$BFTLEDGER_NETNS_PREFIX-" || fail "down left namespaces: $(ip netns list | grep "^$BFTLEDGER_NETNS_PREFIX-")"
! ip link show | grep -q ": $BFTLEDGER_NETNS_PREFIX-" || fail "down left devices"
[ ! -e "$NET" ] || fail "down --clean left $NET behind"
ok "down --clean: no node, namespace, device or data left"

echo "$passed passed, 0 failed ($(( $(date +%s) - started ))s)"
