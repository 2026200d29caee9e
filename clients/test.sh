#!/usr/bin/env bash
# Tests of the client packages (clients/python, clients/typescript), as scripts/test.sh runs them:
# each one's unit tests against docs/test-vectors.json, then one 4-node testnet and each one's
# integration test against it; the testnet is stopped and deleted on exit.
#
#   clients/test.sh
#
# Testnet: binary $BFTLEDGER_BIN (default $CARGO_TARGET_DIR/debug/bftledger), data in a fresh
# temporary directory, ports $BFTLEDGER_P2P_PORT_BASE (default 28600) and
# $BFTLEDGER_API_PORT_BASE (default 28700) + node index, so it never meets a testnet on the
# default ports, and below Linux's ephemeral range (32768 and up), where any outgoing connection
# on the machine may hold a port a node wants to listen on.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"

"$HERE/python/test.sh"
"$HERE/typescript/test.sh"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/bftledger/target}"
export BFTLEDGER_BIN="${BFTLEDGER_BIN:-$CARGO_TARGET_DIR/debug/bftledger}"
export BFTLEDGER_P2P_PORT_BASE="${BFTLEDGER_P2P_PORT_BASE:-28600}"
export BFTLEDGER_API_PORT_BASE="${BFTLEDGER_API_PORT_BASE:-28700}"
BFTLEDGER_TESTNET_DIR="$(mktemp -d /tmp/bftledger-clients.XXXXXX)"
export BFTLEDGER_TESTNET_DIR
cleanup() {
  "$ROOT/testnet/local.sh" down >/dev/null 2>&1 || true
  rm -rf "$BFTLEDGER_TESTNET_DIR"
}
trap cleanup EXIT
rmdir "$BFTLEDGER_TESTNET_DIR"   # testnet/local.sh creates it
echo "clients: starting a 4-node testnet (API ports $BFTLEDGER_API_PORT_BASE + i)"
"$ROOT/testnet/local.sh" up >/dev/null
export BFTLEDGER_NODE="http://127.0.0.1:$BFTLEDGER_API_PORT_BASE"

"$HERE/python/test.sh" --integration
"$HERE/typescript/test.sh" --integration
