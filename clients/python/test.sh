#!/usr/bin/env bash
# Tests of the Python client: unit tests against docs/test-vectors.json; with --integration also
# tests/test_integration.py against the running testnet named by BFTLEDGER_NODE (an API URL) and
# BFTLEDGER_TESTNET_DIR (its directory). clients/test.sh starts such a testnet and runs both.
#
# Installs what it needs itself: a virtualenv in $BFTLEDGER_PY_VENV (default
# ~/.cache/bftledger/python-client-venv) with this package and PyNaCl from PyPI.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="$("$HERE/venv.sh")"

echo "python client: unit tests (test vectors)"
(cd "$HERE/tests" && "$PY" -m unittest -v test_vectors 2>&1)

if [ "${1:-}" = "--integration" ]; then
  : "${BFTLEDGER_NODE:?set it to the API URL of a node}" "${BFTLEDGER_TESTNET_DIR:?set it to the testnet directory}"
  echo "python client: integration test against $BFTLEDGER_NODE"
  (cd "$HERE/tests" && "$PY" -m unittest -v test_integration 2>&1)
fi
