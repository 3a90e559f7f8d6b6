"""Least privilege: the Kubernetes permissions pgrestore uses, and a check that the kubeconfig has them.

A table per adapter method (pgrestore/adapters/kube.py) of the (group, resource, subresource, verb) it needs and
where, the adapter methods each step kind calls (its entry in core/kinds.py), and what `plan` and apply's own
machinery (lock, journal, freshness check) call. deploy/rbac.yaml grants exactly the union;
tests/core/test_permissions.py holds the two together. `plan` asks the API server (SelfSubjectAccessReview)
for each before it writes a plan, so a restore never stops half-way on a 403.
"""

from __future__ import annotations

from dataclasses import dataclass

from pgrestore.adapters.connect import S3Options
from pgrestore.contract.model import Plan, ServiceDef
from pgrestore.core.kinds import CATALOG
from pgrestore.errors import PermissionDenied

# Where a permission is needed: the service's namespace, every namespace, or one named namespace.
SERVICE, CLUSTER = "<service>", ""
KUBE_SYSTEM = "kube-system"
S3_NAMESPACE = "services"  # postgres-backup-s3-credentials (the CLI's --s3-namespace default)
PG, APPS, BATCH, CORE, LEASES = "acid.zalan.do", "apps", "batch", "", "coordination.k8s.io"
WORKLOADS = ("statefulsets", "deployments", "daemonsets")


@dataclass(frozen=True, order=True)
class Need:
    group: str
    resource: str
    subresource: str
    verb: str
    scope: str = SERVICE

    def __str__(self) -> str:
        resource = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        return f"{self.verb} {resource}"


def _n(group: str, resource: str, *verbs: str, sub: str = "", scope: str = SERVICE) -> frozenset[Need]:
    return frozenset(Need(group, resource, sub, v, scope) for v in verbs)


def _workloads(*verbs: str) -> frozenset[Need]:
    return frozenset().union(*(_n(APPS, w, *verbs) for w in WORKLOADS))


# Kube.cronjob_version() lists cronjobs cluster-wide (limit 1) to learn batch/v1 or v1beta1.
_CRON_VERSION = _n(BATCH, "cronjobs", "list", scope=CLUSTER)
_WATCH = ("list", "watch")

METHODS: dict[str, frozenset[Need]] = {
    "cluster_identity": _n(CORE, "namespaces", "get", scope=KUBE_SYSTEM),
    "read": (_n(PG, "postgresqls", "get") | _n(CORE, "secrets", "get") | _n(BATCH, "jobs", "get")
             | _n(CORE, "pods", "get") | _n(BATCH, "cronjobs", "get") | _CRON_VERSION | _workloads("get")),
    "list_workloads": _workloads("list"),
    "get_workload": _workloads("get"),
    "scale": _workloads("patch"),
    "rollout_restart": _workloads("patch"),
    "list_pods": _n(CORE, "pods", "list"),
    "delete_pod": _n(CORE, "pods", "delete"),
    "get_postgresql": _n(PG, "postgresqls", "get"),
    "create_postgresql": _n(PG, "postgresqls", "create"),
    "delete_postgresql": _n(PG, "postgresqls", "delete"),
    "set_instances": _n(PG, "postgresqls", "patch"),
    "cronjob_version": _CRON_VERSION,
    "list_cronjobs": _n(BATCH, "cronjobs", "list") | _CRON_VERSION,
    "get_cronjob": _n(BATCH, "cronjobs", "get") | _CRON_VERSION,
    "suspend_cronjob": _n(BATCH, "cronjobs", "patch") | _CRON_VERSION,
    "wait_jobs_of_cronjob_finished": _n(BATCH, "jobs", *_WATCH),
    "list_secrets": _n(CORE, "secrets", "list"),
    "read_secret": _n(CORE, "secrets", "get"),
    "delete_secret": _n(CORE, "secrets", "delete"),
    "create_secret": _n(CORE, "secrets", "create"),
    "put_secret": _n(CORE, "secrets", "update", "create"),
    "list_jobs": _n(BATCH, "jobs", "list"),
    "get_job": _n(BATCH, "jobs", "get"),
    "delete_job": _n(BATCH, "jobs", "delete"),
    "create_job": _n(BATCH, "jobs", "create"),
    "get_lease": _n(LEASES, "leases", "get"),
    "create_lease": _n(LEASES, "leases", "create"),
    "replace_lease": _n(LEASES, "leases", "update"),
    "delete_lease": _n(LEASES, "leases", "delete"),
    "upsert_configmap": _n(CORE, "configmaps", "update", "create"),
    "get_configmap": _n(CORE, "configmaps", "get"),
    "wait_pods": _n(CORE, "pods", *_WATCH),
    "wait_secrets": _n(CORE, "secrets", *_WATCH),
    "wait_postgresql": _n(PG, "postgresqls", *_WATCH),
    "wait_job_complete": _n(BATCH, "jobs", *_WATCH),
    "wait_job_gone": _n(BATCH, "jobs", *_WATCH),
    "wait_workload": _workloads(*_WATCH),
    "wait_workload_gone": _workloads(*_WATCH),
    # The websocket upgrade is a GET (authorized as get up to Kubernetes 1.29, as create from 1.30).
    "exec": _n(CORE, "pods", "create", "get", sub="exec"),
    "list_node_names": _n(CORE, "nodes", "list", scope=CLUSTER),  # host steps: pdsh over the nodes
    "can_i": frozenset(),  # SelfSubjectAccessReview: every authenticated user may (system:basic-user)
}

# Step kind -> the adapter methods it (and the helpers it calls) uses: the catalog's (core/kinds.py).
STEPS: dict[str, frozenset[str]] = {k.name: frozenset(k.uses) for k in CATALOG}

# `plan` (commands/plan.py, planner/read.py): the lock and journal it refuses under, what it reads, and
# the plan key it signs with (Secret pgrestore-plan-key, created if absent: core/plankey.py).
PLAN = frozenset({"get_lease", "get_configmap", "cluster_identity", "read", "list_secrets", "list_jobs",
                  "read_secret", "create_secret",
                  "list_workloads", "list_cronjobs", "list_node_names",
                  "list_pods", "exec"})  # planner/prerequisites.py: the leader's schema version, a service's health
# apply's own machinery: the cluster check, the plan's signature (reads Secret pgrestore-plan-key), the
# freshness check (reads every recorded object), the lock (executors/lock.py) and the journal (executors/journal.py).
APPLY = frozenset({"cluster_identity", "read_secret", "read", "get_lease", "create_lease", "replace_lease",
                   "delete_lease", "get_configmap", "upsert_configmap"})
# `apply --in-cluster`, `attach`, `cancel` (commands/in_cluster.py) and the Job's own resume (the holder pod
# it takes the lease from, executors/lock.py): the plan's Secret, the Job, its pods, the cancel request.
IN_CLUSTER = frozenset({"put_secret", "create_job", "get_job", "list_jobs", "list_pods", "read", "get_lease",
                        "upsert_configmap", "get_configmap"})
# plan and apply read the S3 keys from postgres-backup-s3-credentials (pgrestore/adapters/connect.py).
S3_KEYS = Need(CORE, "secrets", "", "get", S3_NAMESPACE)


def needs_of(methods: frozenset[str] | set[str]) -> frozenset[Need]:
    return frozenset().union(*(METHODS[m] for m in methods))


def table() -> frozenset[Need]:
    """Everything pgrestore may need, scopes unresolved: what deploy/rbac.yaml grants."""
    return needs_of(PLAN | APPLY | IN_CLUSTER | frozenset().union(*STEPS.values())) | {S3_KEYS}


def required(plan_or_service: Plan | ServiceDef, s3_namespace: str | None = S3_NAMESPACE) \
        -> set[tuple[str, str, str, str, str]]:
    """(verb, group, resource, subresource, namespace) for one service: a plan's steps and rollback, or
    every step kind for a service not yet planned; namespace "" is cluster-wide. No S3 keys if None."""
    if isinstance(plan_or_service, Plan):
        kinds = {s.kind for s in [*plan_or_service.steps, *plan_or_service.rollback]}
    else:
        kinds = set(STEPS)
    needs = set(needs_of(PLAN | APPLY | frozenset().union(*(STEPS[k] for k in kinds))))
    if s3_namespace is not None:
        needs.add(Need(CORE, "secrets", "", "get", s3_namespace))
    ns = plan_or_service.namespace
    return {(n.verb, n.group, n.resource, n.subresource, ns if n.scope == SERVICE else n.scope) for n in needs}


def missing(kube, plan_or_service: Plan | ServiceDef, s3_namespace: str | None = S3_NAMESPACE) -> list[str]:
    """Each needed "verb resource" (with " in <namespace>" when not the service's) the kubeconfig lacks."""
    ns = plan_or_service.namespace
    lacking = []
    for verb, group, resource, sub, where in sorted(required(plan_or_service, s3_namespace)):
        if not kube.can_i(verb, group, resource, where, sub):
            name = f"{verb} {resource}/{sub}" if sub else f"{verb} {resource}"
            lacking.append(name if where == ns else f"{name} in {where or 'all namespaces'}")
    return sorted(set(lacking))


def check(kube, plan_or_service: Plan | ServiceDef, s3: S3Options | None = None) -> None:
    """PermissionDenied naming every missing verb and resource, on one line."""
    s3 = s3 or S3Options(namespace=S3_NAMESPACE)
    lacking = missing(kube, plan_or_service, None if s3.complete else s3.namespace)
    if lacking:
        ns = plan_or_service.namespace
        raise PermissionDenied(f"the kubeconfig's user may not {', '.join(lacking)} (namespace {ns}), which "
                               f"plan and apply need; bind it to the ClusterRole in deploy/rbac.yaml "
                               f"(kubectl auth can-i --list -n {ns} shows what it may do)")
