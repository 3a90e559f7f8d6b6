#!/usr/bin/env bash
# Builds kube-apiserver and kube-controller-manager v1.20.2 from Debian bookworm's
# `kubernetes` source package, once, into a cache outside the repository.
# Why from source: no registry we can reach ships an apiserver binary (see testbed notes).
set -euo pipefail

CACHE="${PGRESTORE_K8S_CACHE:-$HOME/.cache/pgrestore/k8s-v1.20.2}"
BIN_NEEDED=(kube-apiserver kube-controller-manager)

have_all() { for b in "${BIN_NEEDED[@]}"; do [[ -x "$CACHE/$b" ]] || return 1; done; }
if have_all; then echo "control plane already built in $CACHE"; exit 0; fi

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

SRC_LIST=/etc/apt/sources.list.d/pgrestore-deb-src.sources
if [[ ! -f "$SRC_LIST" ]]; then
  # The image lists binary packages only; the source package needs a deb-src entry.
  as_root tee "$SRC_LIST" >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
  golang-go golang-github-modern-go-reflect2-dev dpkg-dev rsync make >/dev/null

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pgrestore-k8s-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
apt-get source --download-only kubernetes >/dev/null 2>&1 || apt-get source --download-only kubernetes
dpkg-source --no-check -x kubernetes_*.dsc src >/dev/null
TREE="$WORK/src"

# reflect2 1.0.1 faults under Go >= 1.18 on the first custom-resource write; 1.0.2 fixes it.
rm -rf "$TREE/vendor/github.com/modern-go/reflect2"
rsync -a --exclude go.mod /usr/share/gocode/src/github.com/modern-go/reflect2/ \
  "$TREE/vendor/github.com/modern-go/reflect2/"

mkdir -p "$TREE/.go/src/k8s.io"
ln -s "$TREE" "$TREE/.go/src/k8s.io/kubernetes"
cd "$TREE/.go/src/k8s.io/kubernetes"
export GOPATH="$TREE/.go" GO111MODULE=off CGO_ENABLED=0 GOPROXY=off GOFLAGS=
export KUBE_GIT_VERSION=v1.20.2 KUBE_GIT_TREE_STATE=clean
make WHAT="cmd/kube-apiserver cmd/kube-controller-manager"

mkdir -p "$CACHE"
for b in "${BIN_NEEDED[@]}"; do install -m 0755 "_output/bin/$b" "$CACHE/$b"; done
echo "built control plane into $CACHE"
