#!/usr/bin/env bash
# How users install: `pip install .` without extras into a fresh venv, then the CLI must run.
# (A dependency we import but do not declare shows here, not on an operator's admin node.)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(mktemp -d /tmp/pgrestore-bare-XXXXXX)
trap 'rm -rf "$venv"' EXIT
python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check .
# One name in site-packages: nothing top-level but the pgrestore package (and its dist-info).
top=$("$venv/bin/python" -I -c "import importlib.metadata as m; print(' '.join(sorted({str(f).split('/')[0] for f in m.files('pgrestore') if not str(f).startswith(('..', 'pgrestore-'))})))")
[[ "$top" == "pgrestore" ]] || { echo "bare install: installs top-level '$top', not only pgrestore"; exit 1; }
"$venv/bin/pgrestore" --help >/dev/null
"$venv/bin/pgrestore" services >/dev/null
code=0; "$venv/bin/pgrestore" plan 2>"$venv/err" || code=$?
[[ $code -eq 64 ]] && ! grep -q Traceback "$venv/err" || { echo "bare install: 'pgrestore plan' gave $code:"; cat "$venv/err"; exit 1; }
echo "bare install: only the pgrestore package; pgrestore --help, services and a usage error work without extras"
