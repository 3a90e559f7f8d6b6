#!/usr/bin/env bash
# The test suite: installs what it needs, then runs pytest against a fresh sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -q "$@"
