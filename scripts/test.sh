#!/usr/bin/env bash
# The test suite: installs what it needs, lints and type-checks, then runs the fast layer
# (no sandbox) and the sandbox layer (a fresh sandbox for the session). Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "==> ruff"
.venv/bin/ruff check .
echo "==> mypy (product code)"
.venv/bin/mypy
echo "==> pip install . without extras"
bash scripts/check-install.sh
echo "==> pytest"
exec .venv/bin/python -m pytest -q "$@"
