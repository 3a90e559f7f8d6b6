#!/usr/bin/env bash
# The test suite: installs what it needs, lints and type-checks, then runs the fast layer
# (no sandbox) and the sandbox layer (a fresh sandbox for the session). Arguments go to both pytest runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "==> ruff"
.venv/bin/ruff check .
echo "==> mypy (product code)"
.venv/bin/mypy
echo "==> pip install . without extras"
bash scripts/check-install.sh
# Two sessions: the fast layer on every core (pytest-xdist), then the sandbox layer, whose tests share
# one sandbox and run one at a time. Both always run; the script fails if either did. A layer that
# the arguments leave empty (exit 5, nothing collected) is not a failure unless both are.
layer() {
    local name=$1; shift
    echo "==> pytest: the $name layer"
    local rc=0
    .venv/bin/python -m pytest -q "$@" || rc=$?
    return "$rc"
}
fast=0; layer fast -m "not sandbox" -n "${PGRESTORE_TEST_WORKERS:-auto}" "$@" || fast=$?
slow=0; layer sandbox -m sandbox "$@" || slow=$?
if [ "$fast" = 5 ] && [ "$slow" = 5 ]; then exit 5; fi
for rc in "$fast" "$slow"; do
    if [ "$rc" != 0 ] && [ "$rc" != 5 ]; then exit "$rc"; fi
done
