#!/usr/bin/env bash
# The test command: sets up a fresh machine (idempotently), then runs every check CI runs.
#
#   ./scripts/test.sh
#
# Stages: install missing packages -> cargo fmt --check -> cargo clippy -D warnings ->
# cargo test (unit, property, integration, end-to-end) -> a bounded simulator run (safety
# under Byzantine faults, plus the weak-quorum mutant that must be caught) -> the CI subset of
# the TLA+ models (tla/check.sh). Heavy suites have their own commands (see README.md).
set -euo pipefail
cd "$(dirname "$0")/.."

started=$(date +%s)
stage() { echo; echo "==> $* ($(( $(date +%s) - started ))s)"; }

stage "setup"
scripts/setup.sh

# Keep build products outside the clone so repeated runs on one machine are incremental.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/bftledger/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

stage "cargo fmt --check"
cargo fmt --all --check

stage "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

stage "cargo test"
cargo test --workspace --locked

if [ -f testnet/src/bin/bftledger-sim.rs ]; then
  stage "simulator: bounded safety run and the weak-quorum mutant"
  scripts/sim-ci.sh
fi

if [ -x tla/check.sh ]; then
  stage "TLA+ models (CI subset)"
  tla/check.sh
fi

stage "all checks passed"
