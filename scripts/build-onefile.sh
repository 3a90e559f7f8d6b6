#!/usr/bin/env bash
# One self-contained file for an admin node without internet: pgrestore and every dependency, as a PEX
# (pex-tool/pex), for CPython 3.10 to 3.13 on Linux x86-64 (glibc 2.17 or newer: manylinux2014 wheels).
# Run it as `python3.11 pgrestore.pex plan keycloak` (or any of those versions; with an older python3 first
# on PATH, the file looks for one of them on PATH itself). On its first run it unpacks into ~/.cache/pex
# (PEX_ROOT to choose), then starts in about a second. Nothing is installed and nothing is fetched.
#
# Usage: scripts/build-onefile.sh [OUT]   (default dist/pgrestore.pex; needs this checkout's .venv and PyPI)
# PGRESTORE_ONEFILE_PYTHONS="311 312" builds for fewer versions (the test builds for one).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-dist/pgrestore.pex}
versions=${PGRESTORE_ONEFILE_PYTHONS:-"310 311 312 313"}
# The pex and the pip it resolves with are pinned: the same checkout builds the same file.
[ "$(.venv/bin/pex --version 2>/dev/null)" = 2.105.2 ] || .venv/bin/pip install -q "pex==2.105.2"
platforms=()
for v in $versions; do platforms+=(--platform "manylinux2014_x86_64-cp-$v-cp$v"); done
mkdir -p "$(dirname "$out")"
.venv/bin/pex . "${platforms[@]}" --pip-version 26.1.1 --entry-point pgrestore.cli:main \
    --python-shebang "/usr/bin/env python3" --output-file "$out"
echo "built $out ($(du -h "$out" | cut -f1)) for CPython ${versions// /, } on Linux x86-64"
