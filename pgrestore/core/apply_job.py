"""The Kubernetes Job an in-cluster apply runs as (`pgrestore apply PLAN --in-cluster`), and how to read its
state. Pure: the CLI's commands/in_cluster.py creates and follows it through the Kubernetes adapter.

The Job runs `pgrestore apply` on the plan stored in a Secret, as the ServiceAccount of deploy/rbac.yaml,
with nothing from the node: the plan is a Secret volume, the journal and log an emptyDir, the cluster
reached through the pod's ServiceAccount token. Its pod always runs with --resume-if-started, so when a
node is drained mid-restore the pod the Job controller makes next resumes where the journal says
(Kubernetes before 1.26 makes a new pod for a deleted one at once; a pod that failed is retried twice and a
retry of an apply that ended finds its journal ended and exits as the first did)."""

from __future__ import annotations

from datetime import datetime, timezone

from pgrestore import __version__
from pgrestore.contract.model import plan_secret_name

IMAGE_REPOSITORY = "registry.local/pgrestore"  # CSM's in-cluster registry (Nexus); README: pushing the image
SERVICE_ACCOUNT = "pgrestore"  # deploy/rbac.yaml
# Where the Job, its pod and the plan's Secret live: the ServiceAccount's namespace (a pod can only run as
# a ServiceAccount of its own namespace). Its RoleBindings reach the service's namespace (spire's too).
JOB_NAMESPACE = "services"
PLAN_DIR, STATE_DIR = "/etc/pgrestore/plan", "/var/lib/pgrestore"
PLAN_FILE = "plan.json"
SERVICE_LABEL, ROLE_LABEL, PLAN_LABEL = "pgrestore.dev/service", "app.kubernetes.io/component", "pgrestore.dev/plan"
ROLE = "apply"


def default_image() -> str:
    return f"{IMAGE_REPOSITORY}:{__version__}"


def job_selector(service: str) -> str:
    return f"{SERVICE_LABEL}={service},{ROLE_LABEL}={ROLE}"


def job_name(service: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d%H%M%S")
    return f"pgrestore-apply-{service}-{stamp}"


def plan_label(checksum: str) -> str:
    """A label value naming the plan (`sha256:<hex>` is too long and has a colon)."""
    return checksum.rpartition(":")[2][:16]


def manifest(service: str, namespace: str, name: str, image: str, plan_checksum: str,
             extra_args: tuple[str, ...] = ()) -> dict:
    labels = {"app.kubernetes.io/name": "pgrestore", "app.kubernetes.io/managed-by": "pgrestore",
              SERVICE_LABEL: service, ROLE_LABEL: ROLE, PLAN_LABEL: plan_label(plan_checksum)}
    args = ["apply", f"{PLAN_DIR}/{PLAN_FILE}", "--auto-approve", "--json", "--resume-if-started", *extra_args]
    container = {
        "name": "pgrestore", "image": image, "command": ["pgrestore"], "args": args,
        # The root filesystem is read-only: the journal, the log, a crash log and temporary files go to the
        # emptyDir.
        "env": [{"name": "PGRESTORE_STATE_DIR", "value": STATE_DIR},
                {"name": "XDG_STATE_HOME", "value": STATE_DIR}, {"name": "TMPDIR", "value": STATE_DIR},
                {"name": "PGRESTORE_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "PGRESTORE_POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
        "volumeMounts": [{"name": "plan", "mountPath": PLAN_DIR, "readOnly": True},
                         {"name": "state", "mountPath": STATE_DIR}],
        # Measured peak RSS of apply: 137 MiB for a 1 GiB dump (benchmarks/streams.py).
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
        "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
    }
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            # A pod that failed is retried twice: the Job controller of Kubernetes 1.20-1.25 may count a
            # drained pod (Failed after SIGTERM) before it counts the pod it made next as active. A retry of
            # an apply that ended finds its journal and exits as it did (commands/apply.py _already_ended).
            "backoffLimit": 2,
            "template": {
                "metadata": {"labels": labels},
                "spec": {"serviceAccountName": SERVICE_ACCOUNT, "restartPolicy": "Never",
                         "terminationGracePeriodSeconds": 60, "containers": [container],
                         "volumes": [{"name": "plan", "secret": {"secretName": plan_secret_name(service)}},
                                     {"name": "state", "emptyDir": {}}]},
            },
        },
    }


def _created(obj: dict) -> tuple[str, str]:
    """When a Job or pod was made, then its name: two made in the same second."""
    return obj["metadata"].get("creationTimestamp") or "", obj["metadata"].get("name") or ""


def newest(objects: list[dict]) -> dict:
    return max(objects, key=_created)


def state_of(job: dict) -> str:
    """running, succeeded or failed, from the Job's conditions and counts."""
    status = job.get("status") or {}
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    if conditions.get("Complete") == "True" or (status.get("succeeded") or 0) > 0:
        return "succeeded"
    if conditions.get("Failed") == "True":
        return "failed"
    return "running"


def exit_code_of(pods: list[dict]) -> int | None:
    """The apply's exit code: the newest pod's that has a terminated container."""
    for pod in sorted(pods, key=_created, reverse=True):
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            terminated = (status.get("state") or {}).get("terminated")
            if terminated is not None:
                return int(terminated.get("exitCode") or 0)
    return None
