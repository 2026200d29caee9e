#!/usr/bin/env bash
# Jepsen-style chaos on a real local testnet (testnet/chaos.py says what it injects and checks).
#
#   testnet/chaos.sh [--seed S] [--duration SECONDS] [--faults kill,pause,partition,split,clock,disk,twin]
#                    [--clients N] [--keep]
#   testnet/chaos.sh --campaign SECONDS_EACH SEED... [-- OPTIONS]   one run per seed (each with
#                                                     OPTIONS, e.g. --p2p-port-base), then a total
#   testnet/chaos.sh --self-test                        the history checker on made-up histories
#
# Needs root (iptables partitions, a tmpfs for the full disk). Installs what it needs: the Debian
# packages of scripts/setup.sh (faketime among them), the release binary (or $BFTLEDGER_BIN), and
# the Python client's virtualenv. Prints the seed and the fault schedule as it goes, and a JSON
# summary as the last line of each run; exit code 0 only if no run found a violation. A failed
# run keeps its testnet directory (node logs and data) and says where.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/bftledger/target}"
BIN="${BFTLEDGER_BIN:-$CARGO_TARGET_DIR/release/bftledger}"

[ "$(id -u)" -eq 0 ] || { echo "chaos.sh: run as root (partitions use iptables, the full disk a tmpfs mount)" >&2; exit 2; }
"$ROOT/scripts/setup.sh"
if [ -z "${BFTLEDGER_BIN:-}" ]; then
  (cd "$ROOT" && cargo build --release --locked -q -p bftledger-node --bin bftledger)
fi
PY="$("$ROOT/clients/python/venv.sh")"

if [ "${1:-}" = "--self-test" ]; then
  # The history checker against made-up histories (honest, and one per kind of lie).
  cd "$ROOT/testnet" && exec "$PY" -m unittest test_chaos
elif [ "${1:-}" = "--campaign" ]; then
  each="${2:?--campaign needs seconds per run}"; shift 2
  seeds=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    [[ "$1" =~ ^[0-9]+$ ]] || { echo "chaos.sh: --campaign takes seeds (numbers), then -- and options for every run; got '$1'" >&2; exit 2; }
    seeds+=("$1"); shift
  done
  [ "${1:-}" = "--" ] && shift
  failed=0 runs=0 child=""
  # SIGTERM stops the run in progress through its clean-up, then the campaign.
  trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null; wait; exit 143' TERM INT
  for seed in "${seeds[@]}"; do
    runs=$((runs + 1))
    "$PY" "$ROOT/testnet/chaos.py" --bin "$BIN" --seed "$seed" --duration "$each" "$@" &
    child=$!
    wait "$child" || failed=$((failed + 1))
  done
  echo "chaos campaign: $runs runs of ${each}s, $failed failed"
  [ "$failed" -eq 0 ]
else
  exec "$PY" "$ROOT/testnet/chaos.py" --bin "$BIN" "$@"
fi
