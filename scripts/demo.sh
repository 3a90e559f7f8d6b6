#!/usr/bin/env bash
# The main job on the sandbox: back up Keycloak, break it, and restore it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
PG=.venv/bin/pgrestore
$PG sandbox up
eval "$($PG sandbox env)"
$PG sandbox backup keycloak
$PG sandbox break keycloak --how drop-table
$PG sandbox status
