#!/usr/bin/env bash
# A/B load benchmark: the same open-loop load against a fresh local testnet of each binary, runs
# interleaved (A, B, A, B, ...) so that a noisy, shared machine affects every binary alike; prints
# one table with each figure's ratio to the first binary. Compare ratios within one run, never
# figures across runs.
#
#   ./testnet/bench-ab.sh [--rates "2000 4000"] [--duration S] [--accounts N] [--rounds K] \
#                         [--client BINARY] NAME=BINARY [NAME=BINARY ...]
#   ./testnet/bench-ab.sh --report        print the table of the last run again
#
# Defaults: rates "2000 4000", 15 s, 3000 accounts, 1 round (with more rounds the table shows
# medians). Each run is `local.sh down --clean`, `local.sh up` with that binary, then
# `bftledger bench`; raw JSON lines go to testnet/.bench-ab/results.jsonl. Besides the rates, it
# reads the four node processes' CPU time (/proc) around each bench and prints the nodes' CPU
# per committed transfer (funding included): on a shared machine the rates move with the
# neighbours' load, the CPU a transfer costs much less. With `--client`, that
# one binary's `bench` drives every run (the same load generator for all; otherwise each binary
# runs its own). It uses the testnet's
# ports and data directory: a running local testnet is taken down.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/testnet/.bench-ab"
RESULTS="$OUT/results.jsonl"
RATES="2000 4000"
DURATION=15
ACCOUNTS=3000
ROUNDS=1
BINS=()
REPORT_ONLY=false
CLIENT=""

die() { echo "bench-ab.sh: $*" >&2; exit 2; }

# User + system CPU of the testnet's node processes so far, in clock ticks (USER_HZ, 100/s).
nodes_cpu_ticks() {
  local total=0 pid
  for f in "$ROOT"/testnet/.data/node*/node.pid; do
    pid=$(cat "$f" 2>/dev/null) || continue
    [ -r "/proc/$pid/stat" ] || continue
    # Fields 14 and 15, counted after the command name's closing parenthesis.
    total=$(( total + $(sed 's/.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }') ))
  done
  echo "$total"
}

report() {
  python3 - "$RESULTS" <<'EOF'
import json, sys
from collections import defaultdict
runs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
if not runs:
    sys.exit("bench-ab: no run finished")
names = list(dict.fromkeys(r["name"] for r in runs))
by = defaultdict(list)
for r in runs:
    by[(r["name"], r["result"]["offered_rate_per_s"])].append(r["result"])
def med(xs):
    return sorted(xs)[len(xs) // 2]
def missed(x):
    return (x["not_committed_within_drain"] + sum(x["refused_by_api"].values())
            + sum(x["rejected_at_execution"].values()))
# The machine's bound (bench measures it before its load; binaries that predate it do not):
# every ratio "c/bound" below is committed/s over that one figure of this run.
bounds = sorted(r["result"]["bound"]["bound_per_s"] for r in runs if "bound" in r["result"])
bound = bounds[len(bounds) // 2] if bounds else None
if bound:
    b = next(r["result"]["bound"] for r in runs if "bound" in r["result"])
    print(f"machine bound: {bound:.0f} transfers/s ({b['verify_per_s']:.0f}/s batch-verified on "
          f"{b['threads']} threads, / {b['validators']} validators; median of {len(bounds)} runs)")
print(f"{'offered/s':>9} {'binary':<14} {'runs':>4} {'committed/s':>18} {'c/bound':>7} {'p50 ms':>18} {'p99 ms':>18} {'missed':>7} {'CPU us/transfer':>18}")
for rate in sorted({k[1] for k in by}):
    base = None
    for name in names:
        rs = by.get((name, rate))
        if not rs:
            continue
        cpu = [r["nodes_cpu_ticks"] * 10000 / (r["result"]["committed"] + r["result"]["accounts"])
               for r in runs if r["name"] == name and r["result"]["offered_rate_per_s"] == rate
               and "nodes_cpu_ticks" in r]
        fig = {
            "cpu": med(cpu) if cpu else 0,
            "committed": med([x["committed_rate_per_s"] for x in rs]),
            "p50": med([x["latency_ms"]["p50"] for x in rs]),
            "p99": med([x["latency_ms"]["p99"] for x in rs]),
        }
        base = base or fig
        def cell(k):
            ratio = f"{fig[k] / base[k]:.2f}x" if base[k] else "-"
            return f"{fig[k]:>9.0f} ({ratio:>6})"
        ratio = f"{fig['committed'] / bound:.2f}" if bound else "-"
        print(f"{rate:>9} {name:<14} {len(rs):>4} {cell('committed'):>18} {ratio:>7} {cell('p50'):>18} "
              f"{cell('p99'):>18} {med([missed(x) for x in rs]):>7} {cell('cpu'):>18}")
EOF
}

while [ $# -gt 0 ]; do
  case "$1" in
    --rates) RATES="${2:?--rates needs a value}"; shift 2 ;;
    --duration) DURATION="${2:?--duration needs seconds}"; shift 2 ;;
    --accounts) ACCOUNTS="${2:?--accounts needs a count}"; shift 2 ;;
    --rounds) ROUNDS="${2:?--rounds needs a count}"; shift 2 ;;
    --client) CLIENT="${2:?--client needs a binary}"; shift 2 ;;
    --report) REPORT_ONLY=true; shift ;;
    -h|--help) sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *=*) BINS+=("$1"); shift ;;
    *) die "unknown argument '$1' (binaries are given as NAME=PATH)" ;;
  esac
done
if $REPORT_ONLY; then
  [ -s "$RESULTS" ] || die "no results yet in $RESULTS"
  report
  exit 0
fi
[ ${#BINS[@]} -ge 1 ] || die "give at least one NAME=BINARY"
for spec in "${BINS[@]}"; do
  bin="${spec#*=}"
  [ -x "$bin" ] || die "${spec%%=*}: '$bin' is not an executable file"
done
for n in $DURATION $ACCOUNTS $ROUNDS $RATES; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "'$n' is not a positive whole number"
done

mkdir -p "$OUT"
: > "$RESULTS"
trap '"$ROOT/testnet/local.sh" down --clean >/dev/null 2>&1 || true' EXIT

for round in $(seq 1 "$ROUNDS"); do
  for rate in $RATES; do
    for spec in "${BINS[@]}"; do
      name="${spec%%=*}" bin="${spec#*=}"
      echo "bench-ab: round $round, $name at $rate/s" >&2
      "$ROOT/testnet/local.sh" down --clean >/dev/null 2>&1 || true
      BFTLEDGER_BIN="$bin" "$ROOT/testnet/local.sh" up >"$OUT/up.log" 2>&1 \
        || { cat "$OUT/up.log" >&2; die "$name: testnet did not come up"; }
      log="$OUT/$name-$rate-$round.log"
      cpu_before=$(nodes_cpu_ticks)
      if ! (cd "$ROOT" && "${CLIENT:-$bin}" bench --rate "$rate" --duration "$DURATION" \
              --accounts "$ACCOUNTS") >"$log" 2>&1; then
        echo "bench-ab: $name at $rate/s failed, see $log" >&2
        continue
      fi
      cpu_ticks=$(( $(nodes_cpu_ticks) - cpu_before ))
      printf '{"name":"%s","round":%s,"nodes_cpu_ticks":%s,"result":%s}\n' "$name" "$round" \
        "$cpu_ticks" "$(tail -n 1 "$log")" >>"$RESULTS"
    done
  done
done
report
