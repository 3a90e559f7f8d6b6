#!/usr/bin/env bash
# The main job on the sandbox: back up Keycloak, break it, then plan -> show -> apply -> verify.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
PG=.venv/bin/pgrestore
WORK=.sandbox
mkdir -p "$WORK"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
leader() { kubectl get pods -n services -l application=spilo,cluster-name=keycloak-postgres,spilo-role=master \
             -o jsonpath='{.items[0].metadata.name}'; }
rows() { kubectl exec -n services "$(leader)" -c postgres -- \
           psql -U postgres -d service_db -Atc "SELECT count(*) FROM $1" 2>/dev/null || echo "(no table $1)"; }

step "sandbox up"
$PG sandbox up
eval "$($PG sandbox env)"

step "backup keycloak, as CSM's backup job does"
$PG sandbox backup keycloak
$PG backups keycloak
echo "user_entity rows before the disaster: $(rows user_entity)"

step "disaster: drop table user_entity"
$PG sandbox break keycloak --how drop-table
echo "user_entity rows now: $(rows user_entity)"

step "plan (nothing changes in the cluster)"
set +e
$PG plan keycloak -o "$WORK/keycloak.plan.json" --detailed-exitcode
rc=$?
set -e
[[ $rc -eq 2 ]] || { echo "plan exited $rc, expected 2 (changes)"; exit 1; }

step "review"
$PG show "$WORK/keycloak.plan.json"

step "apply"
rm -f "$WORK/keycloak.plan.journal.json"
$PG apply "$WORK/keycloak.plan.json" --auto-approve

step "status (what anyone with the kubeconfig sees: the journal in the cluster, the lock)"
$PG status keycloak

step "verify"
after=$(rows user_entity)
echo "user_entity rows after the restore: $after"
kubectl get pods -n services -l app.kubernetes.io/instance=cray-keycloak
kubectl get postgresql -n services keycloak-postgres
[[ "$after" =~ ^[0-9]+$ && "$after" -gt 0 ]] || { echo "restore did not bring user_entity back"; exit 1; }
echo
echo "Done. The sandbox is still up: KUBECONFIG=$KUBECONFIG; stop it with: $PG sandbox down"
