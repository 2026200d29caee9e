#!/usr/bin/env bash
# Load benchmark over the namespace testnet (testnet/netns.sh): 4 validators in their own
# namespaces, `bftledger bench` in the client namespace, one run per WAN profile on the same
# testnet, one after the other. Root only. Prints one table; raw JSON lines go to
# testnet/.bench-netns/results.jsonl.
#
#   ./testnet/bench-netns.sh [--profiles "lan region global"] [--rates "1000 2000"] \
#                            [--duration S] [--accounts N] [--rate-cap MBIT] [--failover S] [--keep]
#   ./testnet/bench-netns.sh --report        print the table of the last run again
#
# Defaults: profiles lan, region, global; rate 1000/s; 20 s; 2000 accounts; no bandwidth cap.
# --failover S: the load goes to validators 1..3 only, and S seconds into it validator 0 (the
# primary of view 0 on a fresh testnet) is killed; `max gap ms` is then how long commits stopped
# (the failover), and validator 0 is restarted before the next run.
# The testnet is made fresh (down --clean, up, and down at the end) unless --keep reuses a running
# one. Figures are from a shared machine: compare them within one run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/testnet/.bench-netns"
RESULTS="$OUT/results.jsonl"
NETNS="$ROOT/testnet/netns.sh"
PROFILES="lan region global"
RATES=1000
DURATION=20
ACCOUNTS=2000
RATE_CAP=0
FAILOVER_S=0
KEEP=false
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/bftledger/target}"
BIN="${BFTLEDGER_BIN:-$CARGO_TARGET_DIR/release/bftledger}"
DATA="${BFTLEDGER_NETNS_DIR:-$ROOT/testnet/.netns}"

die() { echo "bench-netns.sh: $*" >&2; exit 2; }

report() {
  python3 - "$RESULTS" <<'EOF'
import json, sys
runs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
if not runs:
    sys.exit("bench-netns: no run finished")
print(f"{'profile':<8} {'cap Mbit/s':>10} {'offered/s':>9} {'committed/s':>11} {'p50 ms':>8} {'p99 ms':>8} "
      f"{'max ms':>8} {'missed':>6} {'view changes':>12} {'max gap ms':>10}")
for r in runs:
    x = r["result"]
    missed = (x["not_committed_within_drain"] + sum(x["refused_by_api"].values())
              + sum(x["rejected_at_execution"].values()))
    vcs = "+".join(str(n["view_changes"]) for n in x["nodes_during_load"])
    print(f"{r['profile']:<8} {r['cap']:>10} {x['offered_rate_per_s']:>9} {x['committed_rate_per_s']:>11.0f} "
          f"{x['latency_ms']['p50']:>8.1f} {x['latency_ms']['p99']:>8.1f} {x['latency_ms']['max']:>8.1f} "
          f"{missed:>6} {vcs:>12} {x['max_commit_gap_ms']:>10}")
    if x.get("not_committed_by_status"):
        print(f"         not committed: {x['not_committed_by_status']}")
EOF
}

while [ $# -gt 0 ]; do
  case "$1" in
    --profiles) PROFILES="${2:?--profiles needs a list}"; shift 2 ;;
    --rates) RATES="${2:?--rates needs a list}"; shift 2 ;;
    --duration) DURATION="${2:?--duration needs seconds}"; shift 2 ;;
    --accounts) ACCOUNTS="${2:?--accounts needs a count}"; shift 2 ;;
    --rate-cap) RATE_CAP="${2:?--rate-cap needs Mbit/s}"; shift 2 ;;
    --failover) FAILOVER_S="${2:?--failover needs seconds}"; shift 2 ;;
    --keep) KEEP=true; shift ;;
    --report) [ -s "$RESULTS" ] || die "no results yet in $RESULTS"; report; exit 0 ;;
    -h|--help) sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1'" ;;
  esac
done
[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces)"
[[ "$FAILOVER_S" =~ ^[0-9]+$ ]] || die "--failover needs whole seconds"
for n in $DURATION $ACCOUNTS $RATES; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "'$n' is not a positive whole number"
done
[ -x "$BIN" ] || die "no binary at $BIN (build it: cargo build --release -p bftledger-node)"
export BFTLEDGER_BIN="$BIN"

mkdir -p "$OUT"
: >"$RESULTS"
if ! $KEEP; then
  # A testnet this script made is taken down at the end; a kept one is left running.
  trap '"$NETNS" down --clean >/dev/null 2>&1 || true' EXIT
  "$NETNS" down --clean >/dev/null 2>&1 || true
  "$NETNS" up --nodes 4 --discovery kademlia >"$OUT/up.log" 2>&1 || { cat "$OUT/up.log" >&2; die "the testnet did not come up"; }
fi
loaded=(0 1 2 3)
[ "$FAILOVER_S" -gt 0 ] && loaded=(1 2 3)
nodes="$(for i in "${loaded[@]}"; do "$NETNS" url "$i"; done | paste -sd, -)"

for profile in $PROFILES; do
  "$NETNS" profile "$profile" --rate "$RATE_CAP" >/dev/null
  for rate in $RATES; do
    echo "bench-netns: $profile at $rate/s for ${DURATION}s" >&2
    log="$OUT/$profile-$rate.log"
    killer=""
    if [ "$FAILOVER_S" -gt 0 ]; then
      # Kill validator 0 FAILOVER_S seconds after the load starts (after funding).
      ( until grep -q "bench: offering" "$log" 2>/dev/null; do sleep 0.2; done
        sleep "$FAILOVER_S"; "$NETNS" kill 0 >&2 ) &
      killer=$!
    fi
    if ! ip netns exec "${BFTLEDGER_NETNS_PREFIX:-bfl}-gen" "$BIN" bench --rate "$rate" --duration "$DURATION" \
        --accounts "$ACCOUNTS" --nodes "$nodes" --funders "$DATA/accounts" >"$log" 2>&1; then
      echo "bench-netns: $profile at $rate/s failed, see $log" >&2
      [ -n "$killer" ] && { kill "$killer" 2>/dev/null || true; "$NETNS" restart 0 >/dev/null || true; }
      continue
    fi
    if [ -n "$killer" ]; then
      wait "$killer" || true
      "$NETNS" restart 0 >/dev/null || die "validator 0 did not come back"
    fi
    printf '{"profile":"%s","cap":%s,"result":%s}\n' "$profile" "$RATE_CAP" "$(tail -n 1 "$log")" >>"$RESULTS"
  done
done
report
