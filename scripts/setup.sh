#!/usr/bin/env bash
# Installs everything pgrestore and its sandbox need on a fresh Debian machine:
# Debian's PostgreSQL and etcd, the control plane (built once from Debian's source
# package into ~/.cache/pgrestore), and a venv with pgrestore and its sandbox (sandbox/) installed.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
missing=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null || missing+=(postgresql)
command -v etcd >/dev/null || missing+=(etcd-server)
command -v gzip >/dev/null || missing+=(gzip)
command -v kubectl >/dev/null || missing+=(kubernetes-client)
if ((${#missing[@]})); then
  echo "==> installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  # Debian starts a cluster of its own; the sandbox runs its own servers.
  as_root systemctl disable --now postgresql >/dev/null 2>&1 || true
fi

echo "==> control plane (kube-apiserver, kube-controller-manager v1.20.2)"
bash sandbox/pgrestore_sandbox/scripts/build-control-plane.sh

if [[ ! -x .venv/bin/python ]]; then
  echo "==> creating .venv"
  python3 -m venv .venv
fi
echo "==> installing pgrestore and its sandbox into .venv (editable: the tree is what runs)"
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]' -e ./sandbox
.venv/bin/pgrestore version >/dev/null
.venv/bin/pgrestore sandbox --help >/dev/null
