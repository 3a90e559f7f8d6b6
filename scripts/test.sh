#!/usr/bin/env bash
# The test suite: installs what it needs, lints and type-checks, then runs the three layers of tests:
# the fast layer (pure: no server of any kind), the servers layer (real PostgreSQL, S3 and TLS servers of
# its own, no sandbox), and the sandbox layer (a fresh sandbox for the session). Arguments go to every
# pytest run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "==> ruff"
.venv/bin/ruff check .
echo "==> mypy (the product and its sandbox; the product again as CPython 3.10 sees it, the single file's oldest)"
.venv/bin/mypy
.venv/bin/mypy --python-version 3.10 --follow-imports silent -p pgrestore
echo "==> import-linter (the layers, .importlinter)"
.venv/bin/lint-imports
# The bare install waits on pip and the network more than on the CPU: it runs beside the fast layer, and
# its result is read before the sandbox layer starts.
echo "==> pip install . without extras (beside the fast layer)"
install_log=$(mktemp /tmp/pgrestore-check-install-XXXXXX.log)
bash scripts/check-install.sh >"$install_log" 2>&1 &
install_pid=$!
# Each layer is a pytest session: the first two on every core (pytest-xdist; worksteal evens out tests of
# very different lengths), the sandbox layer on two workers (one on a single core), each with a sandbox of
# its own, a test file at a time on one of them (loadfile: a file's module fixtures are made once). All
# three always run; the script fails if any did. A layer the arguments leave empty (exit 5, nothing collected) is not a
# failure unless all are.
layer() {
    local name=$1; shift
    echo "==> pytest: the $name layer"
    local rc=0 started=$SECONDS
    .venv/bin/python -m pytest -q "$@" || rc=$?
    echo "==> the $name layer: exit $rc in $((SECONDS - started)) s"
    return "$rc"
}
workers=(-n "${PGRESTORE_TEST_WORKERS:-auto}" --dist worksteal)
# Two sandboxes on 2 cores keep both 85-99 % busy and take ~15 min where one takes ~45. (The apply that once
# hung with two was no load effect: it failed the same way one at a time, see execserver.py's _stalled.)
cores=$(nproc)
sandbox_workers=${PGRESTORE_SANDBOX_WORKERS:-$((cores >= 2 ? 2 : 1))}
sandboxes=()
if [ "$sandbox_workers" -gt 1 ]; then sandboxes=(-n "$sandbox_workers" --dist loadfile); fi
codes=()
rc=0; layer fast -m "not sandbox and not servers" "${workers[@]}" "$@" || rc=$?; codes+=("$rc")
rc=0; layer servers -m "servers" "${workers[@]}" "$@" || rc=$?; codes+=("$rc")
install_rc=0; wait "$install_pid" || install_rc=$?
echo "==> pip install . without extras: exit $install_rc"; cat "$install_log"; rm -f "$install_log"
rc=0; layer sandbox -m sandbox "${sandboxes[@]}" "$@" || rc=$?; codes+=("$rc")
[ "$install_rc" = 0 ] || exit "$install_rc"
if [[ "${codes[*]}" == "5 5 5" ]]; then exit 5; fi
for rc in "${codes[@]}"; do
    if [ "$rc" != 0 ] && [ "$rc" != 5 ]; then exit "$rc"; fi
done
