"""The backup CronJobs of a CSM cluster, and running one now.

CSM <= 1.4: each service's chart makes `<fullname>-postgresql-db-backup` (cray-service base chart
8.1.1, Cray-HPE/base-charts@e8f5bd5 kubernetes/cray-service/templates/postgresql-backup.yaml,
_helpers.tpl, _common-labels.tpl, values.yaml). What it sets:
- batch/v1beta1 CronJob (the chart moved to batch/v1 in 8.2.3, 6c2cdd7, for Kubernetes 1.21+);
  `schedule` from sqlCluster.backup.schedule (default "1 1 * * *"; CSM sets e.g. "10 2 * * *");
  no concurrencyPolicy (so Allow), no suspend, no history limits, no jobTemplate labels, no
  backoffLimit (so the Job gets 6: a failed run is retried 6 times with the Job controller's
  10s, 20s, 40s… back-off);
- labels cray-service.common-labels: helm.sh/base-chart, helm.sh/chart,
  app.kubernetes.io/instance (the release), app.kubernetes.io/managed-by: Helm;
- pod: annotation sidecar.istio.io/inject "false", its own ServiceAccount (Role: get secrets),
  restartPolicy Never, one container `postgresql-backup` (image cray-postgres-db-backup) with
  DB_NAME/PGHOST = the cluster, PGPORT 5432, PGDATABASE = the first database, USERS = the users
  (JSON), NAMESPACE from the pod, PGUSER/PGPASSWORD from postgres.<cluster>.credentials and
  STORAGE_* from postgres-backup-s3-credentials, STORAGE_BUCKET postgres-backup.
Keycloak's chart had its own copy of the template: `cray-keycloak-postgresql-db-backup` for
cluster keycloak-postgres (the cray-keycloak chart's post-upgrade hook deletes it by that name).

CSM >= 1.5: the cray-postgresql chart deletes those CronJobs (4d6e319) and the clusters set
`enableLogicalBackup: true`. Then the operator itself makes `logical-backup-<cluster>`
(postgres-operator v1.8.2 pkg/cluster/k8sres.go generateLogicalBackupJob): labels
application=spilo, cluster-name, team; concurrencyPolicy Forbid; schedule from
spec.logicalBackupSchedule or the operator's logical_backup_schedule ("30 00 * * *"); pod
labels application=spilo-logical-backup + cluster-name; container `logical-backup` running
dump.sh (pg_dumpall without -c, gzip, spilo/<cluster>/<uid>/logical_backups/<epoch>.sql.gz).
The operator creates it on Create (or when an Update turns enableLogicalBackup on), re-creates
it on Sync if it is missing, patches it only when schedule or image differ (so a `suspend: true`
set by hand survives a Sync), and deletes it on Delete, with Orphan propagation, before the
StatefulSet: a re-created cluster gets a new, unsuspended CronJob.

Kubernetes 1.20 serves CronJob only as batch/v1beta1, and the Python client (37) has no
BatchV1beta1Api: the objects go through CustomObjectsApi (group batch, v1beta1, cronjobs).
"""

from __future__ import annotations

import base64
import json
import secrets
import string

from kubernetes import client

from .credentials import secret_name
from .kube import Api, as_dict, is_conflict, is_not_found
from .services import SandboxService

GROUP, VERSION, PLURAL = "batch", "v1beta1", "cronjobs"
API_VERSION = f"{GROUP}/{VERSION}"
CHART_CONTAINER = "postgresql-backup"
LOGICAL_CONTAINER = "logical-backup"
BACKUP_IMAGE = "artifactory.algol60.net/csm-docker/stable/cray-postgres-db-backup:0.2.1"  # cray-service 8.1.1
LOGICAL_IMAGE = "artifactory.algol60.net/csm-docker/stable/registry.opensource.zalan.do/acid/logical-backup:v1.8.2"
BASE_CHART = "cray-service-8.1.1"
S3_SECRET = "postgres-backup-s3-credentials"
MANUAL = "cronjob.kubernetes.io/instantiate"  # kubectl create job --from=cronjob/… sets it to "manual"
LOGICAL_PREFIX = "logical-backup-"  # logical_backup_job_prefix
OPERATOR_SCHEDULE = "30 00 * * *"  # logical_backup_schedule, v1.8.2 default
POD_SERVICE_ACCOUNT = "postgres-pod"  # pod_service_account_name, v1.8.2 default


# -- the API ------------------------------------------------------------
def get(api: Api, ns: str, name: str) -> dict | None:
    try:
        return as_dict(api.custom.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name))
    except client.ApiException as e:
        if is_not_found(e):
            return None
        raise


def list_in(api: Api, ns: str, label_selector: str = "") -> list[dict]:
    listing = api.custom.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, label_selector=label_selector)
    return as_dict(listing)["items"]


def create(api: Api, ns: str, body: dict) -> bool:
    """False if one of that name exists already."""
    try:
        api.custom.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, body)
        return True
    except client.ApiException as e:
        if is_conflict(e):
            return False
        raise


def patch(api: Api, ns: str, name: str, body: dict) -> dict:
    return as_dict(api.custom.patch_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name, body))


def set_suspend(api: Api, ns: str, name: str, suspend: bool) -> dict:
    return patch(api, ns, name, {"spec": {"suspend": suspend}})


def delete(api: Api, ns: str, name: str, propagation: str = "Orphan") -> bool:
    try:
        api.custom.delete_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name,
                                                   body=client.V1DeleteOptions(propagation_policy=propagation))
        return True
    except client.ApiException as e:
        if is_not_found(e):
            return False
        raise


# -- CSM <= 1.4: the chart's CronJob --------------------------------------
def chart_labels(svc: SandboxService) -> dict[str, str]:
    assert svc.backup is not None
    return {"helm.sh/base-chart": BASE_CHART, "helm.sh/chart": svc.backup.chart,
            "app.kubernetes.io/instance": svc.backup.release, "app.kubernetes.io/managed-by": "Helm"}


def _secret_env(var: str, secret: str, key: str) -> dict:
    return {"name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def chart_cronjob(svc: SandboxService) -> dict:
    assert svc.backup is not None
    superuser = secret_name("postgres", svc.cluster)
    env = [
        {"name": "DB_NAME", "value": svc.cluster},
        {"name": "USERS", "value": json.dumps(list(svc.users), separators=(",", ":"))},  # Helm toJson
        {"name": "NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "PGHOST", "value": svc.cluster},
        {"name": "PGPORT", "value": "5432"},
        {"name": "PGDATABASE", "value": next(iter(svc.databases))},
        _secret_env("PGUSER", superuser, "username"),
        _secret_env("PGPASSWORD", superuser, "password"),
        _secret_env("STORAGE_ENDPOINT", S3_SECRET, "s3_endpoint"),
        _secret_env("STORAGE_TLS_VERIFY", S3_SECRET, "ssl_validate"),
        _secret_env("STORAGE_ACCESS_KEY", S3_SECRET, "access_key"),
        _secret_env("STORAGE_SECRET_KEY", S3_SECRET, "secret_key"),
        {"name": "STORAGE_BUCKET", "value": "postgres-backup"},
    ]
    return {
        "apiVersion": API_VERSION, "kind": "CronJob",
        "metadata": {"name": svc.backup.name, "labels": chart_labels(svc)},
        "spec": {
            "schedule": svc.backup.schedule,
            "jobTemplate": {"spec": {"template": {
                "metadata": {"annotations": {"sidecar.istio.io/inject": "false"}},
                "spec": {
                    "serviceAccountName": svc.backup.name,
                    "securityContext": {},
                    "containers": [{"name": CHART_CONTAINER, "image": BACKUP_IMAGE, "imagePullPolicy": "IfNotPresent",
                                    "securityContext": {}, "resources": {}, "env": env}],
                    "restartPolicy": "Never",
                },
            }}},
        },
    }


def ensure_chart_objects(api: Api, svc: SandboxService) -> None:
    """What the chart installs with the CronJob: its ServiceAccount, a Role to read secrets, the binding."""
    assert svc.backup is not None
    ns, name, labels = svc.namespace, svc.backup.name, chart_labels(svc)
    rbac = client.RbacAuthorizationV1Api(api.core.api_client)
    for make in (
        lambda: api.core.create_namespaced_service_account(ns, client.V1ServiceAccount(
            metadata=client.V1ObjectMeta(name=name, labels=labels))),
        lambda: rbac.create_namespaced_role(ns, client.V1Role(
            metadata=client.V1ObjectMeta(name=name),
            rules=[client.V1PolicyRule(api_groups=[""], resources=["secrets"], verbs=["get"])])),
        lambda: rbac.create_namespaced_role_binding(ns, client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name=name),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name=name)],
            role_ref=client.V1RoleRef(kind="Role", name=name, api_group="rbac.authorization.k8s.io"))),
        lambda: api.custom.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, chart_cronjob(svc)),
    ):
        try:
            make()
        except client.ApiException as e:
            if not is_conflict(e):
                raise


# -- CSM >= 1.5: the operator's CronJob -----------------------------------
def logical_backup_name(cluster: str) -> str:
    return f"{LOGICAL_PREFIX}{cluster}"


def logical_backup_cronjob(cr: dict, s3: dict[str, str]) -> dict:
    """generateLogicalBackupJob for one `postgresql`; `s3` is what the operator configuration
    holds on CSM (endpoint, bucket, keys; copied from postgres-backup-s3-credentials)."""
    meta, spec = cr["metadata"], cr["spec"]
    cluster = meta["name"]
    pod_labels = {"cluster-name": cluster, "application": "spilo-logical-backup"}
    env = [
        {"name": "SCOPE", "value": cluster},
        {"name": "CLUSTER_NAME_LABEL", "value": "cluster-name"},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}},
        {"name": "LOGICAL_BACKUP_PROVIDER", "value": "s3"},
        {"name": "LOGICAL_BACKUP_S3_BUCKET", "value": s3["bucket"]},
        {"name": "LOGICAL_BACKUP_S3_REGION", "value": ""},
        {"name": "LOGICAL_BACKUP_S3_ENDPOINT", "value": s3["endpoint"]},
        {"name": "LOGICAL_BACKUP_S3_SSE", "value": ""},
        {"name": "LOGICAL_BACKUP_S3_RETENTION_TIME", "value": s3.get("retention", "2 days")},
        {"name": "LOGICAL_BACKUP_S3_BUCKET_SCOPE_SUFFIX", "value": f"/{meta['uid']}"},
        {"name": "LOGICAL_BACKUP_GOOGLE_APPLICATION_CREDENTIALS", "value": ""},
        {"name": "PG_VERSION", "value": str((spec.get("postgresql") or {}).get("version", ""))},
        {"name": "PGPORT", "value": "5432"},
        {"name": "PGUSER", "value": "postgres"},
        {"name": "PGDATABASE", "value": "postgres"},
        {"name": "PGSSLMODE", "value": "require"},
        _secret_env("PGPASSWORD", secret_name("postgres", cluster), "password"),
        {"name": "AWS_ACCESS_KEY_ID", "value": s3["access_key"]},
        {"name": "AWS_SECRET_ACCESS_KEY", "value": s3["secret_key"]},
    ]
    affinity = {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
        "weight": 1, "podAffinityTerm": {"labelSelector": {"matchLabels": pod_labels},
                                         "topologyKey": "kubernetes.io/hostname"}}]}}
    return {
        "apiVersion": API_VERSION, "kind": "CronJob",
        "metadata": {"name": logical_backup_name(cluster), "namespace": meta["namespace"],
                     "labels": {"application": "spilo", "cluster-name": cluster, "team": spec.get("teamId", "")}},
        "spec": {
            "schedule": spec.get("logicalBackupSchedule") or OPERATOR_SCHEDULE,
            "concurrencyPolicy": "Forbid",
            "jobTemplate": {"spec": {"template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    "serviceAccountName": POD_SERVICE_ACCOUNT,
                    "terminationGracePeriodSeconds": 300,
                    "affinity": affinity,
                    "containers": [{"name": LOGICAL_CONTAINER, "image": LOGICAL_IMAGE, "env": env}],
                    "restartPolicy": "Never",
                },
            }}},
        },
    }


def operator_s3_config(api: Api) -> dict[str, str]:
    """The logical_backup_s3_* settings CSM's operator configuration holds: bucket and endpoint from
    cray-postgres-operator's values, the keys copied in from services/postgres-backup-s3-credentials."""
    try:
        data = api.core.read_namespaced_secret(S3_SECRET, "services").data or {}
    except client.ApiException as e:
        if not is_not_found(e):
            raise
        data = {}
    plain = {k: base64.b64decode(v).decode() for k, v in data.items()}
    return {"bucket": "postgres-backup", "endpoint": plain.get("s3_endpoint", "http://rgw-vip.nmn"),
            "access_key": plain.get("access_key", ""), "secret_key": plain.get("secret_key", ""),
            "retention": "2 days"}


def create_logical_backup(api: Api, cr: dict) -> None:
    """createLogicalBackupJob; the operator's pod service account first (the real operator makes
    it in every namespace it runs a cluster in). Raises if the CronJob exists already."""
    ns = cr["metadata"]["namespace"]
    try:
        api.core.create_namespaced_service_account(ns, client.V1ServiceAccount(
            metadata=client.V1ObjectMeta(name=POD_SERVICE_ACCOUNT)))
    except client.ApiException as e:
        if not is_conflict(e):
            raise
    api.custom.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL,
                                               logical_backup_cronjob(cr, operator_s3_config(api)))


def sync_logical_backup(api: Api, cr: dict) -> None:
    """syncLogicalBackupJob: create it if missing; if it exists, merge-patch its spec only when the
    schedule or the image differ (k8sutil.SameLogicalBackupJob), which keeps a `suspend` set by hand."""
    ns, name = cr["metadata"]["namespace"], logical_backup_name(cr["metadata"]["name"])
    current = get(api, ns, name)
    if current is None:
        try:
            create_logical_backup(api, cr)
        except client.ApiException as e:
            if not is_conflict(e):
                raise
        return
    desired = logical_backup_cronjob(cr, operator_s3_config(api))
    if (current["spec"]["schedule"] != desired["spec"]["schedule"]
            or _image(current) != _image(desired)):
        patch(api, ns, name, {"spec": desired["spec"]})


def _image(cronjob: dict) -> str:
    return cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"]


# -- running one now ----------------------------------------------------
def job_from(cronjob: dict, name: str) -> dict:
    """What `kubectl create job NAME --from=cronjob/…` (v1.20 create_job.go) posts: the jobTemplate's
    spec, its labels, its annotations plus instantiate=manual, and the CronJob as owner."""
    template = cronjob["spec"]["jobTemplate"]
    tmeta = template.get("metadata") or {}
    meta = cronjob["metadata"]
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "labels": tmeta.get("labels"),
                     "annotations": {MANUAL: "manual", **(tmeta.get("annotations") or {})},
                     "ownerReferences": [{"apiVersion": API_VERSION, "kind": "CronJob",
                                          "name": meta["name"], "uid": meta["uid"]}]},
        "spec": template["spec"],
    }


def manual_job_name(cronjob_name: str) -> str:
    suffix = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(5))
    return f"{cronjob_name[:50]}-manual-{suffix}"


def run_now(api: Api, ns: str, cronjob: dict) -> str:
    """Create a Job from the CronJob (a manual run: it ignores `suspend`); returns its name."""
    name = manual_job_name(cronjob["metadata"]["name"])
    # The client's validate_call makes the dict a V1Job (camelCase keys are its aliases); its stubs ask for the model.
    api.batch.create_namespaced_job(ns, job_from(cronjob, name))  # type: ignore[arg-type]
    return name
