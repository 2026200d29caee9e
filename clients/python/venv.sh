#!/usr/bin/env bash
# Makes sure the Python client's virtualenv exists with this package installed (PyNaCl comes from
# PyPI), and prints the path of its python. The one owner of that set-up: clients/python/test.sh
# and testnet/chaos.sh both call it.
#
#   PY="$(clients/python/venv.sh)"
#
# The virtualenv lives in $BFTLEDGER_PY_VENV (default ~/.cache/bftledger/python-client-venv),
# outside the clone, so fresh clones reuse it.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${BFTLEDGER_PY_VENV:-$HOME/.cache/bftledger/python-client-venv}"

[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV" >&2
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "$HERE" >&2
echo "$VENV/bin/python"
