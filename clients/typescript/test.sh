#!/usr/bin/env bash
# Tests of the TypeScript client: unit tests against docs/test-vectors.json; with --integration
# also test/integration.test.ts against the running testnet named by BFTLEDGER_NODE (an API URL)
# and BFTLEDGER_TESTNET_DIR (its directory). clients/test.sh starts such a testnet and runs both.
#
# Installs what it needs itself: `npm ci` from package-lock.json (node 20+ and npm required).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"
command -v npm >/dev/null || { echo "typescript client: node 20+ and npm are required" >&2; exit 1; }
npm ci --no-audit --no-fund --loglevel=error >/dev/null

echo "typescript client: unit tests (test vectors)"
npm test --silent

if [ "${1:-}" = "--integration" ]; then
  : "${BFTLEDGER_NODE:?set it to the API URL of a node}" "${BFTLEDGER_TESTNET_DIR:?set it to the testnet directory}"
  echo "typescript client: integration test against $BFTLEDGER_NODE"
  npm run --silent test:integration
fi
