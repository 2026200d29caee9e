#!/usr/bin/env bash
# Tests of the Python client: unit tests against docs/test-vectors.json, and with --integration
# also against a real local testnet that this script starts and stops.
#
#   clients/python/test.sh                   unit tests
#   clients/python/test.sh --integration     unit tests, then a 4-node testnet and the integration test
#
# Installs what it needs itself: a virtualenv in $BFTLEDGER_PY_VENV (default
# ~/.cache/bftledger/python-client-venv) with this package and PyNaCl from PyPI.
# The testnet: binary $BFTLEDGER_BIN (default $CARGO_TARGET_DIR/debug/bftledger), data in a
# fresh temporary directory, ports $BFTLEDGER_P2P_PORT_BASE (default 36600) and
# $BFTLEDGER_API_PORT_BASE (default 36700) + node index, so it never meets a testnet on the
# default ports.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="${BFTLEDGER_PY_VENV:-$HOME/.cache/bftledger/python-client-venv}"

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "$HERE"

echo "python client: unit tests (test vectors)"
(cd "$HERE/tests" && "$VENV/bin/python" -m unittest -v test_vectors 2>&1)

if [ "${1:-}" != "--integration" ]; then
  exit 0
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/bftledger/target}"
export BFTLEDGER_BIN="${BFTLEDGER_BIN:-$CARGO_TARGET_DIR/debug/bftledger}"
export BFTLEDGER_P2P_PORT_BASE="${BFTLEDGER_P2P_PORT_BASE:-36600}"
export BFTLEDGER_API_PORT_BASE="${BFTLEDGER_API_PORT_BASE:-36700}"
BFTLEDGER_TESTNET_DIR="$(mktemp -d /tmp/bftledger-python-client.XXXXXX)"
export BFTLEDGER_TESTNET_DIR
cleanup() {
  "$ROOT/testnet/local.sh" down >/dev/null 2>&1 || true
  rm -rf "$BFTLEDGER_TESTNET_DIR"
}
trap cleanup EXIT
rmdir "$BFTLEDGER_TESTNET_DIR"   # local.sh creates it
"$ROOT/testnet/local.sh" up >/dev/null

echo "python client: integration test against a 4-node testnet (API port base $BFTLEDGER_API_PORT_BASE)"
export BFTLEDGER_NODE="http://127.0.0.1:$BFTLEDGER_API_PORT_BASE"
(cd "$HERE/tests" && "$VENV/bin/python" -m unittest -v test_integration 2>&1)
