#!/usr/bin/env bash
# Bounded simulator run for CI (called by scripts/test.sh): a safety+liveness sample of seeds for
# n=4 (f=1) and n=7 (f=2), and the weak-quorum mutant, which must be caught (the binary exits 0
# only if it finds a violation). Every failing seed prints the command that replays it.
#
# Uses the dev-profile binary that `cargo test --workspace` has already built (dependencies are
# optimised in dev, and ed25519 dominates the run time), so there is no extra release compile.
# Heavier runs: see testnet/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/bftledger/target}"
SEEDS_N4="${SIM_SEEDS_N4:-150}"
SEEDS_N7="${SIM_SEEDS_N7:-30}"
SEEDS_MUTANT="${SIM_SEEDS_MUTANT:-300}"
JOBS="${SIM_JOBS:-2}"

cargo build --locked -p bftledger-testnet --bin bftledger-sim
sim="$CARGO_TARGET_DIR/debug/bftledger-sim"

echo "--- n=4, 1 Byzantine, $SEEDS_N4 seeds"
"$sim" --seeds "$SEEDS_N4" --replicas 4 --byzantine 1 --jobs "$JOBS"
echo "--- n=7, 2 Byzantine, $SEEDS_N7 seeds"
"$sim" --seeds "$SEEDS_N7" --replicas 7 --byzantine 2 --jobs "$JOBS"
echo "--- weak-quorum mutant (must be caught), up to $SEEDS_MUTANT seeds"
"$sim" --seeds "$SEEDS_MUTANT" --replicas 4 --byzantine 1 --mutant weak-quorum --jobs "$JOBS"
