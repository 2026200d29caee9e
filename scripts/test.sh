#!/usr/bin/env bash
# The test command: sets up a fresh machine (idempotently), then runs every check CI runs.
#
#   ./scripts/test.sh
#
# Stages: install missing packages -> cargo fmt --check -> cargo clippy -D warnings ->
# cargo test (unit, property, integration) -> every fuzz target's corpus and seeded mutations of it
# (scripts/fuzz.sh ci) -> a bounded simulator run (safety and liveness
# under Byzantine faults, plus every caught protocol mutant, which must be caught again) -> the end-to-end
# testnet test (real processes, kill -9, restart) -> the same in network namespaces, one per
# validator, mDNS discovery only, partition and heal, a 100 ms RTT profile (root) -> the Python
# and TypeScript clients' unit tests against docs/test-vectors.json and their integration tests
# against a testnet of their own (ports 28600/28700) -> two minutes of chaos on a real testnet
# with a fixed seed (ports 29600/29700) -> the CI subset of the TLA+ models.
# Heavy suites have their own commands (see README.md).
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

stage "fuzz targets: corpora and seeded mutations, 20 s per target (scripts/fuzz.sh ci)"
scripts/fuzz.sh ci 20

stage "simulator: bounded Byzantine runs and the protocol mutants"
scripts/sim-ci.sh

stage "end-to-end: a real 4-node testnet on loopback (testnet/e2e.sh)"
BFTLEDGER_BIN="$CARGO_TARGET_DIR/debug/bftledger" testnet/e2e.sh

stage "end-to-end: 4 validators in network namespaces, mDNS discovery only (testnet/netns-e2e.sh)"
BFTLEDGER_BIN="$CARGO_TARGET_DIR/debug/bftledger" testnet/netns-e2e.sh

stage "clients (Python, TypeScript): unit tests on the test vectors, integration on a testnet (clients/test.sh)"
BFTLEDGER_BIN="$CARGO_TARGET_DIR/debug/bftledger" clients/test.sh

stage "chaos: 2 minutes of faults on a real testnet, fixed seed, history checked (testnet/chaos.sh)"
BFTLEDGER_BIN="$CARGO_TARGET_DIR/debug/bftledger" testnet/chaos.sh --self-test
BFTLEDGER_BIN="$CARGO_TARGET_DIR/debug/bftledger" testnet/chaos.sh --seed 20261130 --duration 120

stage "TLA+ models (CI subset, both checkers)"
tla/check.sh

stage "all checks passed"
