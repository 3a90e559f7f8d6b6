"""An in-memory fake of our Kubernetes adapter (core.adapters.kube.Kube), for the fast tests.

Same method names, arguments and return shapes as the adapter (JSON-shaped dicts, as
`kubectl get -o json` prints them; items of lists without kind and apiVersion, as the API
server sends them), and the same errors (NotFound, Conflict, StepTimeout).
Behind it, just enough of a CSM cluster, run by simulated controllers in `settle()`:

- StatefulSets, Deployments and DaemonSets whose pods appear when scaled up, go when scaled
  down, and are replaced by a rollout restart; a pod is Ready unless a `Login` says its
  credential secret must open its database (as Keycloak's pods need) and it does not;
- the postgres-operator: a `postgresql` resource gets its credential secrets
  `{user}.{cluster}.credentials` (fresh random passwords unless they exist), a database with
  those roles, and pods `<cluster>-0..N-1` (application=spilo, cluster-name=<cluster>);
  Patroni's leader key (pod 0 of a new cluster unless `leader_on_create` says otherwise;
  `set_leader` moves it; a deleted leader's key goes to another Ready member, or stays for its
  re-created pod) decides who is labelled spilo-role=master; a replica is Ready only if the
  standby password it started with opened the database when it cloned; deleting the resource
  removes its pods, secrets and data;
- Jobs that run once (a pod, then Complete) and are deleted in the foreground;
- CSM's backup CronJobs (`<cluster>-postgresql-db-backup` of the cray-service chart, and the
  operator's `logical-backup-<cluster>` when the spec has enableLogicalBackup: deleted with the
  cluster and created again, not suspended, with a new one), served as batch/v1beta1 on Kubernetes
  1.20 (CSM 1.2) and batch/v1 from 1.21; `spec.suspend` as patched; their Jobs (fired by
  `cronjob_tick`, or by hand with `run_cronjob`) run as other Jobs do, and `job_effects` says what a
  finished one did (a backup written to S3, older ones deleted: tests/fakes/rehearsal.py);
- Leases, ConfigMaps, and the cluster's identity;
- `exec`: psql restores and scripts (effects on the fake database, tests/fakes/fake_db.py),
  `pg_dumpall [-c]` streaming the database out through `on_stdout`, `patronictl list -f json`, and
  the login check pgrestore runs in the leader. A stdin stream that breaks (a crash, a deadline, a
  failed read) ends psql's input there: it has run every line it received, as `psql -f -` does when
  its exec's websocket closes.

Waits run the controllers to a fixed point, then check their predicate once: a wait that
cannot be satisfied raises StepTimeout at once instead of sleeping out its timeout.

Nothing happens between calls unless a wait (or the test) calls `settle()`, so a step that
acts and then reads without waiting sees the cluster before the controllers did anything.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import io
import json
import random
import string
import tarfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from pgrestore.adapters.kube import ExecResult
from pgrestore.contract.model import Target
from pgrestore.errors import Conflict, KubernetesError, NotFound, StepTimeout

from .fake_db import READ_ONLY, WRITES, FakeDatabase, database_of
from .stage import Fault, Stage, adapter_call

NODES = ("ncn-w001", "ncn-w002", "ncn-w003")
EPOCH = datetime(2024, 5, 2, 0, 0, 0, tzinfo=timezone.utc)
PROTOCOL = "v5.channel.k8s.io"
SYSTEM_USERS = ("postgres", "standby")
WORKLOAD_KINDS = ("StatefulSet", "Deployment", "DaemonSet")
API_VERSIONS = {"StatefulSet": "apps/v1", "Deployment": "apps/v1", "DaemonSet": "apps/v1", "Pod": "v1",
                "Secret": "v1", "ConfigMap": "v1", "Job": "batch/v1", "Lease": "coordination.k8s.io/v1",
                "postgresql": "acid.zalan.do/v1"}
READABLE = ("postgresql", "Secret", "Job", "Pod", "CronJob", *WORKLOAD_KINDS)
DUMP_CHUNK = 1024  # pg_dumpall's stdout arrives in pieces this big
GENERATED_JOB_LABELS = ("controller-uid", "batch.kubernetes.io/controller-uid", "job-name",
                        "batch.kubernetes.io/job-name")
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


# -- small helpers ---------------------------------------------------------------------------
def secret_name(user: str, cluster: str) -> str:
    """The operator's secret_name_template on CSM ('_' becomes '-')."""
    return f"{user}.{cluster}.credentials".replace("_", "-")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def unb64(text: str | None) -> str:
    return base64.b64decode(text or "").decode()


def parse_selector(selector: str) -> list[tuple[str, str, str | None]]:
    """Equality-based label selectors: k=v, k==v, k!=v, k, !k."""
    out: list[tuple[str, str, str | None]] = []
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            k, v = term.split("!=", 1)
            out.append(("!=", k.strip(), v.strip()))
        elif "=" in term:
            k, v = term.replace("==", "=").split("=", 1)
            out.append(("=", k.strip(), v.strip()))
        elif term.startswith("!"):
            out.append(("absent", term[1:].strip(), None))
        else:
            out.append(("present", term, None))
    return out


def matches(labels: dict | None, selector: str) -> bool:
    labels = labels or {}
    for op, k, v in parse_selector(selector):
        if (op == "=" and labels.get(k) != v) or (op == "!=" and labels.get(k) == v) \
                or (op == "present" and k not in labels) or (op == "absent" and k in labels):
            return False
    return True


def is_ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def is_live(pod: dict) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and pod["status"].get("phase") == "Running"


def job_complete(job: dict) -> bool:
    return any(c.get("type") == "Complete" and c.get("status") == "True"
               for c in (job.get("status") or {}).get("conditions") or [])


def _finished(job: dict) -> bool:
    return any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
               for c in (job.get("status") or {}).get("conditions") or [])


def owner_cronjob(job: dict) -> str | None:
    return next((o.get("name") for o in job["metadata"].get("ownerReferences") or [] if o.get("kind") == "CronJob"),
                None)


def logical_backup_cronjob(cluster: str) -> str:
    """The operator's CronJob for a cluster with enableLogicalBackup (v1.8.2 getLogicalBackupJobName)."""
    return f"logical-backup-{cluster}"


@dataclass(frozen=True)
class Login:
    """Pods matching `selector` are Ready (and Jobs complete) only while secret `secret`
    opens `database` of postgresql `cluster`, as Keycloak's pods and setup jobs do."""

    namespace: str
    selector: str
    secret: str
    cluster: str
    database: str


@dataclass
class ExecRecord:
    step: str | None
    namespace: str
    pod: str
    pod_uid: str
    argv: list[str]
    stdin: bytes
    result: ExecResult | None = None
    streamed: int = 0  # bytes streamed out through on_stdout (pg_dumpall)

    @property
    def kind(self) -> str:
        """restore, sql (psql -v ON_ERROR_STOP=1: ALTER USER, row counts), dump, patronictl or login."""
        if self.argv[0] == "psql":
            return "restore" if is_restore(self.argv) else "sql"
        return {"patronictl": "patronictl", "pg_dumpall": "dump"}.get(self.argv[0], "login")

    @property
    def sql(self) -> str:
        return self.stdin.decode(errors="replace")


@dataclass
class FakeKube:
    """The fake adapter. Build one with `FakeKube.from_world(...)` or add objects with `add`."""

    stage: Stage = field(default_factory=Stage)
    seed: int = 0
    server: str = "https://api.fake-csm.example:6443"
    kube_system_uid: str = "5f1c2a9e-0000-4000-8000-00000000c5a1"
    kubernetes_version: str = "1.20.2"  # CSM 1.2's: CronJobs only as batch/v1beta1
    adapter = "kube"

    def __post_init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict] = {}
        # RBAC: (verb, group, resource, subresource) a test takes away; everything else is allowed.
        self.denied: set[tuple[str, str, str, str]] = set()
        self.databases: dict[tuple[str, str], FakeDatabase] = {}
        self.leaders: dict[tuple[str, str], str] = {}       # Patroni's leader key, per cluster
        self.leader_on_create: dict[str, int] = {}          # cluster name -> pod index of a new cluster's leader
        self.logins: list[Login] = []
        self.seed_tables: dict[tuple[str, str], dict[str, dict[str, int]]] = {}
        self.execs: list[ExecRecord] = []
        self.pod_env: dict[str, dict[str, str | None]] = {}  # Spilo pod uid -> credentials it started with
        self.pod_cluster: dict[str, str] = {}                # Spilo pod uid -> uid of its postgresql
        self.cloned: dict[str, bool] = {}                    # Spilo replica uid -> did its clone log in
        self.role_labels = True  # False: Spilo's callback has not labelled the pods (patronictl still knows)
        self.retired: list[FakeDatabase] = []  # the databases of deleted clusters
        # A client's data volume (by namespace and app.kubernetes.io/name): path below / -> bytes.
        self.volumes: dict[tuple[str, str], dict[str, bytes]] = {}
        self.nodes: list[str] = ["ncn-m001", "ncn-m002", "ncn-m003", "ncn-w001", "ncn-w002", "ncn-w003"]
        self.job_effects: dict[str, Callable[[dict], None]] = {}  # CronJob name -> what its finished Job did
        self._cleanup: list[tuple[str, str, str, dict]] = []  # deleted postgresqls, for the operator
        self._rng = random.Random(self.seed)
        self._uid = self._rv = self._tick = 0

    # == building a world ======================================================================
    @classmethod
    def from_world(cls, world: dict | str | Path, seed: int = 0, stage: Stage | None = None) -> FakeKube:
        """A cluster from a world fixture: {"cluster": {server, kube_system_uid}, "objects": [...],
        "databases": {"ns/cluster": {"tables": {db: {table: rows}}}}, "logins": [...]}."""
        if not isinstance(world, dict):
            world = json.loads(Path(world).read_text())
        ident = world.get("cluster") or {}
        kube = cls(stage=stage or Stage(), seed=seed, server=ident.get("server", cls.server),
                   kube_system_uid=ident.get("kube_system_uid", cls.kube_system_uid),
                   kubernetes_version=ident.get("kubernetes_version", cls.kubernetes_version))
        for key, db in (world.get("databases") or {}).items():
            ns, name = key.split("/", 1)
            kube.seed_tables[(ns, name)] = db.get("tables") or {}
        for login in world.get("logins") or []:
            kube.logins.append(Login(**login))
        for obj in world.get("objects") or []:
            kube.add(obj)
        kube.settle()
        return kube

    def add(self, obj: dict) -> dict:
        """Put an object in as given (uid, resourceVersion, timestamps kept when present)."""
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        meta.setdefault("namespace", "default")
        meta.setdefault("uid", self._new_uid())
        meta.setdefault("creationTimestamp", self._stamp())
        meta.setdefault("labels", {})
        if obj["kind"] in (*WORKLOAD_KINDS, "postgresql", "Job", "CronJob"):
            meta.setdefault("generation", 1)
        default = f"batch/{self._cronjob_version()}" if obj["kind"] == "CronJob" else "v1"
        obj.setdefault("apiVersion", API_VERSIONS.get(obj["kind"], default))
        if "resourceVersion" not in meta:
            self._bump(obj)
        self.objects[self._key(obj)] = obj
        return obj

    # == identity ==============================================================================
    @adapter_call
    def cluster_identity(self) -> dict:
        return {"server": self.server, "kube_system_uid": self.kube_system_uid}

    # == any recorded object ===================================================================
    @adapter_call
    def read(self, target: Target) -> dict | None:
        if target.kind not in READABLE:
            raise KeyError(target.kind)  # as the adapter's lookup of an unknown kind
        return self._copy(self._get(target.kind, target.namespace, target.name))

    # == workloads =============================================================================
    @adapter_call
    def list_workloads(self, kind: str, ns: str, selector: str) -> list[dict]:
        return [self._item(w) for w in self._list(kind, ns, selector)]

    @adapter_call
    def get_workload(self, kind: str, ns: str, name: str) -> dict:
        return self._copy(self._must(kind, ns, name, f"{kind.lower()} {ns}/{name}"))

    @adapter_call
    def scale(self, kind: str, ns: str, name: str, replicas: int) -> None:
        w = self._must(kind, ns, name, f"scale {kind.lower()} {ns}/{name}")
        if w["spec"].get("replicas") != replicas:
            w["spec"]["replicas"] = replicas
            w["metadata"]["generation"] += 1
        self._bump(w)

    @adapter_call
    def rollout_restart(self, kind: str, ns: str, name: str) -> None:
        w = self._must(kind, ns, name, f"rollout restart {kind.lower()} {ns}/{name}")
        meta = w["spec"]["template"].setdefault("metadata", {})
        meta.setdefault("annotations", {})[RESTARTED_AT] = self._stamp()
        w["metadata"]["generation"] += 1
        self._bump(w)

    # == pods ==================================================================================
    @adapter_call
    def list_node_names(self) -> list[str]:
        return list(self.nodes)

    @adapter_call
    def list_pods(self, ns: str, selector: str) -> list[dict]:
        return [self._item(p) for p in self._list("Pod", ns, selector)]

    @adapter_call
    def delete_pod(self, ns: str, name: str) -> None:
        pod = self._must("Pod", ns, name, f"pod {ns}/{name}")
        self._terminate(pod)

    # == postgresql resources ==================================================================
    @adapter_call
    def get_postgresql(self, ns: str, name: str) -> dict | None:
        return self._copy(self._get("postgresql", ns, name))

    @adapter_call
    def create_postgresql(self, body: dict) -> dict:
        meta = body["metadata"]
        if self._get("postgresql", meta["namespace"], meta["name"]) is not None:
            raise Conflict(f"create postgresql {meta['namespace']}/{meta['name']}: conflict (exists already, or "
                           f"changed since read)")
        obj = self._create(body, status={"PostgresClusterStatus": "Creating"})
        return self._copy(obj)

    @adapter_call
    def delete_postgresql(self, ns: str, name: str) -> None:
        pg = self._must("postgresql", ns, name, f"delete postgresql {ns}/{name}")
        del self.objects[self._key(pg)]
        self._cleanup.append((ns, name, pg["metadata"]["uid"], copy.deepcopy(pg["spec"])))

    @adapter_call
    def set_instances(self, ns: str, name: str, n: int) -> None:
        pg = self._must("postgresql", ns, name, f"patch postgresql {ns}/{name}")
        if pg["spec"].get("numberOfInstances") != n:
            pg["spec"]["numberOfInstances"] = n
            pg["metadata"]["generation"] += 1
            pg.setdefault("status", {})["PostgresClusterStatus"] = "Updating"
        self._bump(pg)

    # == cronjobs ==============================================================================
    @adapter_call
    def cronjob_version(self) -> str:
        return self._cronjob_version()

    def _cronjob_version(self) -> str:
        major, minor = (int(x) for x in self.kubernetes_version.split(".")[:2])
        return "v1" if (major, minor) >= (1, 21) else "v1beta1"

    @adapter_call
    def can_i(self, verb: str, group: str, resource: str, namespace: str, subresource: str = "") -> bool:
        return (verb, group, resource, subresource) not in self.denied

    @adapter_call
    def get_cronjob(self, ns: str, name: str) -> dict | None:
        return self._copy(self._get("CronJob", ns, name))

    @adapter_call
    def list_cronjobs(self, ns: str) -> list[dict]:
        return [self._copy(o) for (kind, o_ns, _), o in sorted(self.objects.items())
                if kind == "CronJob" and o_ns == ns]

    @adapter_call
    def suspend_cronjob(self, ns: str, name: str, suspend: bool) -> None:
        cron = self._must("CronJob", ns, name, f"patch cronjob {ns}/{name}")
        if cron["spec"].get("suspend") != suspend:
            cron["spec"]["suspend"] = suspend
            cron["metadata"]["generation"] += 1
        self._bump(cron)

    @adapter_call
    def wait_jobs_of_cronjob_finished(self, ns: str, cronjob: str, what: str, timeout: float) -> None:
        self.settle()
        active = [j for j in self._list("Job", ns, "") if owner_cronjob(j) == cronjob and not _finished(j)]
        self._satisfied(not active, None, what, timeout)

    # == secrets ===============================================================================
    @adapter_call
    def list_secrets(self, ns: str, selector: str) -> list[dict]:
        return [self._item(s) for s in self._list("Secret", ns, selector)]

    @adapter_call
    def read_secret(self, ns: str, name: str) -> dict | None:
        return self._copy(self._get("Secret", ns, name))

    @adapter_call
    def delete_secret(self, ns: str, name: str) -> None:
        self.objects.pop(("Secret", ns, name), None)

    @adapter_call
    def create_secret(self, ns: str, body: dict) -> None:
        self._create_secret(ns, body)

    @adapter_call
    def put_secret(self, ns: str, body: dict) -> None:
        name = body["metadata"]["name"]
        current = self._get("Secret", ns, name)
        if current is None:
            self._create_secret(ns, body)
            return
        replacement = self._secret_body(ns, body)
        replacement["metadata"].update({k: current["metadata"][k] for k in ("uid", "creationTimestamp")})
        self.objects[("Secret", ns, name)] = replacement
        self._bump(replacement)

    # == jobs ==================================================================================
    @adapter_call
    def list_jobs(self, ns: str, selector: str) -> list[dict]:
        return [self._item(j) for j in self._list("Job", ns, selector)]

    @adapter_call
    def get_job(self, ns: str, name: str) -> dict:
        return self._copy(self._must("Job", ns, name, f"job {ns}/{name}"))

    @adapter_call
    def delete_job(self, ns: str, name: str) -> None:
        job = self._get("Job", ns, name)
        if job is not None and not job["metadata"].get("deletionTimestamp"):
            job["metadata"]["deletionTimestamp"] = self._stamp()  # propagation Foreground: pods first
            job["metadata"]["finalizers"] = ["foregroundDeletion"]
            self._bump(job)

    @adapter_call
    def create_job(self, ns: str, body: dict) -> None:
        name = body["metadata"]["name"]
        what = f"create job {ns}/{name}"
        if self._get("Job", ns, name) is not None:
            raise Conflict(f"{what}: conflict (exists already, or changed since read)")
        spec = body.get("spec") or {}
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        if spec.get("selector") and not spec.get("manualSelector"):
            raise KubernetesError(f"{what}: the API server answered 422 Unprocessable Entity "
                                  f"(spec.selector: `selector` will be auto-generated)")
        if set(labels) & set(GENERATED_JOB_LABELS):
            raise KubernetesError(f"{what}: the API server answered 422 Unprocessable Entity "
                                  f"(spec.template.metadata.labels: `selector` does not match template `labels`)")
        self._start_job(ns, body)

    def _start_job(self, ns: str, body: dict) -> dict:
        """A Job as the API server stores it: generated selector and labels, no status yet."""
        name = body["metadata"]["name"]
        labels = ((body["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
        job = self._create({"kind": "Job", **body, "metadata": {**body["metadata"], "namespace": ns}}, status={})
        uid = job["metadata"]["uid"]
        generated = {"controller-uid": uid, "batch.kubernetes.io/controller-uid": uid, "job-name": name,
                     "batch.kubernetes.io/job-name": name}
        job["spec"]["template"].setdefault("metadata", {})["labels"] = {**labels, **generated}
        job["spec"]["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        job["metadata"]["labels"] = job["metadata"].get("labels") or dict(labels)
        return job

    # == leases and config maps ================================================================
    @adapter_call
    def get_lease(self, ns: str, name: str) -> dict | None:
        return self._copy(self._get("Lease", ns, name))

    @adapter_call
    def create_lease(self, ns: str, body: dict) -> bool:
        if self._get("Lease", ns, body["metadata"]["name"]) is not None:
            return False
        self._create({"kind": "Lease", **body, "metadata": {**body["metadata"], "namespace": ns}})
        return True

    @adapter_call
    def replace_lease(self, ns: str, body: dict) -> bool:
        name = body["metadata"]["name"]
        current = self._must("Lease", ns, name, f"update lease {ns}/{name}")
        wanted_rv = body["metadata"].get("resourceVersion")
        if wanted_rv is not None and wanted_rv != current["metadata"]["resourceVersion"]:
            return False
        new = copy.deepcopy(body)
        new["metadata"].update({k: current["metadata"][k] for k in ("uid", "creationTimestamp", "namespace")})
        self.objects[self._key(new)] = new
        self._bump(new)
        return True

    @adapter_call
    def delete_lease(self, ns: str, name: str) -> None:
        self.objects.pop(("Lease", ns, name), None)

    @adapter_call
    def upsert_configmap(self, ns: str, name: str, data: dict[str, str], labels: dict | None = None) -> None:
        current = self._get("ConfigMap", ns, name)
        if current is None:
            self._create({"kind": "ConfigMap", "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
                          "data": dict(data)})
            return
        current["data"] = dict(data)
        current["metadata"]["labels"] = labels or {}
        self._bump(current)

    @adapter_call
    def get_configmap(self, ns: str, name: str) -> dict | None:
        return self._copy(self._get("ConfigMap", ns, name))

    # == waiting ===============================================================================
    @adapter_call
    def wait_pods(self, ns: str, selector: str, done: Callable[[list[dict]], bool], what: str,
                  timeout: float) -> list[dict]:
        self.settle()
        items = [self._item(p) for p in self._list("Pod", ns, selector)]
        return self._satisfied(done(items), items, what, timeout)

    @adapter_call
    def wait_secrets(self, ns: str, selector: str, done: Callable[[list[dict]], bool], what: str,
                     timeout: float) -> list[dict]:
        self.settle()
        items = [self._item(s) for s in self._list("Secret", ns, selector)]
        return self._satisfied(done(items), items, what, timeout)

    @adapter_call
    def wait_postgresql(self, ns: str, name: str, done: Callable[[dict | None], bool], what: str,
                        timeout: float) -> None:
        self.settle()
        self._satisfied(done(self._copy(self._get("postgresql", ns, name))), None, what, timeout)

    @adapter_call
    def wait_job_complete(self, ns: str, name: str, what: str, timeout: float) -> None:
        self.settle()
        job = self._get("Job", ns, name)
        self._satisfied(job is not None and job_complete(job), None, what, timeout)

    @adapter_call
    def wait_job_gone(self, ns: str, name: str, what: str, timeout: float) -> None:
        self.settle()
        self._satisfied(self._get("Job", ns, name) is None, None, what, timeout)

    @adapter_call
    def wait_workload_gone(self, kind: str, ns: str, name: str, what: str, timeout: float) -> None:
        self.settle()
        self._satisfied(self._get(kind, ns, name) is None, None, what, timeout)

    @adapter_call
    def wait_workload(self, kind: str, ns: str, name: str, done: Callable[[dict], bool], what: str,
                      timeout: float) -> None:
        self.settle()
        w = self._get(kind, ns, name)
        self._satisfied(w is not None and done(self._item(w)), None, what, timeout)

    @staticmethod
    def _satisfied(ok: bool, items: Any, what: str, timeout: float) -> Any:
        if not ok:
            raise StepTimeout(f"timed out after {timeout:.0f}s waiting for {what}")
        return items

    # == exec ==================================================================================
    @adapter_call
    def exec(self, ns: str, pod: str, container: str, argv: list[str], stdin: Iterable[bytes] | None = None,
             stdin_end: bytes = b"", deadline: float | None = None,
             on_stdout: Callable[[bytes], None] | None = None,
             on_stdin_sent: Callable[[int], None] | None = None, _faults: list[Fault] | None = None) -> ExecResult:
        what = f"exec in pod {ns}/{pod}"

        def in_time() -> None:
            if deadline is not None and time.monotonic() > deadline:
                raise StepTimeout(f"{what} ({argv[0]}) ran past its step's deadline; the stream was closed")

        p = self._get("Pod", ns, pod)
        if p is None:
            raise NotFound(f"{what}: not found")
        if container not in [c["name"] for c in p["spec"].get("containers") or []]:
            raise KubernetesError(f"{what}: the API server answered 400 Bad Request (no container {container})")
        faults = _faults or []
        record = ExecRecord(self.stage.step, ns, pod, p["metadata"]["uid"], list(argv), b"")
        self.execs.append(record)
        received = bytearray()
        try:
            for chunk in stdin or ():
                in_time()
                received += chunk
                self.stage.passing(faults, len(received), f"the stdin of {argv[0]} in {ns}/{pod}")
                if on_stdin_sent is not None:
                    on_stdin_sent(len(chunk))
        except BaseException:
            # The stream broke (this process died, a deadline, a failed read of what it streamed): the
            # websocket closes, psql reads the end of its input and has run every line it received.
            record.stdin = bytes(received)
            if argv[0] == "psql":
                self._run(p, argv, bytes(received[:received.rfind(b"\n") + 1]), None, [], in_time)
            if argv[0] == "tar":  # tar has written every member it read whole
                self._tar(p, argv, bytes(received), None)
            raise
        if stdin is not None:
            received += stdin_end
        record.stdin = bytes(received)
        if any(f.hang for f in faults):
            if deadline is None:
                raise AssertionError(f"{what} ({argv[0]}) hangs and its caller set no deadline: apply would "
                                     f"hang forever")
            while time.monotonic() <= deadline:
                time.sleep(0.01)
            in_time()
        result = self._run(p, argv, bytes(received), on_stdout, faults, in_time)
        for f in faults:
            if f.result is not None:
                result = replace(result, **f.result)
        record.result = result
        return result

    def _run(self, pod: dict, argv: list[str], stdin: bytes, on_stdout: Callable[[bytes], None] | None,
             faults: list[Fault], in_time: Callable[[], None]) -> ExecResult:
        labels = pod["metadata"]["labels"]
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        cluster = labels.get("cluster-name") if labels.get("application") == "spilo" else None
        db = self.databases.get((ns, cluster)) if cluster else None
        leader = cluster is not None and self.leaders.get((ns, cluster)) == name and is_live(pod)
        if argv[0] == "psql":
            return self._psql(argv, stdin.decode(errors="replace"), db, leader)
        if argv[0] == "pg_dumpall" and cluster is not None:
            return self._pg_dumpall(f"{ns}/{name}", argv, db, on_stdout, faults, in_time)
        if argv[0] == "tar" and cluster is None:
            return self._tar(pod, argv, stdin, on_stdout)
        if argv[0] == "patronictl" and argv[1:] == ["list", "-f", "json"]:
            return self._patronictl(ns, cluster)
        if argv[0] == "bash" and len(argv) == 6 and argv[3] == "login":
            user, database = argv[4], argv[5]
            if db is None:
                return _result(2, stderr="psql: error: connection to server at \"127.0.0.1\", port 5432 failed: "
                                         "Connection refused")
            password = stdin.decode().split("\n", 1)[0]
            error = db.login(user, password, database)
            return _result(2, stderr=error + "\n") if error else _result(0, stdout="1\n")
        raise AssertionError(f"the fake cannot run {argv!r} in pod {ns}/{name}; teach tests/fakes/fake_kube.py")

    def _tar(self, pod: dict, argv: list[str], stdin: bytes, on_stdout: Callable[[bytes], None] | None
             ) -> ExecResult:
        """`tar -C / -cf - <path>` and `tar -C / -xf -` on the pod's volume (GNU tar's behaviour: extracting
        overwrites and never deletes; a cut archive leaves the members read whole)."""
        app = (pod["metadata"]["labels"] or {}).get("app.kubernetes.io/name", pod["metadata"]["name"])
        files = self.volumes.setdefault((pod["metadata"]["namespace"], app), {})
        if argv[:4] == ["tar", "-C", "/", "-cf"] and argv[4] == "-":
            out = io.BytesIO()
            with tarfile.open(fileobj=out, mode="w") as tar:
                for path in sorted(f for f in files if f.startswith(argv[5].rstrip("/") + "/")):
                    info = tarfile.TarInfo(path)
                    info.size = len(files[path])
                    tar.addfile(info, io.BytesIO(files[path]))
            if on_stdout is not None:
                on_stdout(out.getvalue())
            return _result(0)
        if argv == ["tar", "-C", "/", "-xf", "-"]:
            member = None
            try:
                with tarfile.open(fileobj=io.BytesIO(stdin), mode="r:") as tar:
                    for member in tar:
                        data = tar.extractfile(member)
                        if data is not None:
                            files[member.name] = data.read()
            except (tarfile.TarError, EOFError):
                if member is not None:  # GNU tar leaves the member it was writing cut short
                    files[member.name] = stdin[member.offset_data:member.offset_data + member.size]
                return _result(2, stderr="tar: Unexpected EOF in archive\n")
            return _result(0)
        raise AssertionError(f"the fake cannot run {argv!r}; teach tests/fakes/fake_kube.py")

    def _psql(self, argv: list[str], sql: str, db: FakeDatabase | None, leader: bool) -> ExecResult:
        database = database_of(argv[argv.index("-d") + 1]) if "-d" in argv else "postgres"
        if db is None:
            return _result(2, stderr="psql: error: connection to server on socket \"/var/run/postgresql/.s.PGSQL"
                                     ".5432\" failed: No such file or directory\n")
        if database not in db.databases:
            return _result(2, stderr=f'psql: error: FATAL:  database "{database}" does not exist\n')
        stop_on_error = "ON_ERROR_STOP=1" in argv
        if not stop_on_error:  # a restore: psql goes on past errors, exit 0
            if not leader:
                return _result(0, stderr=_read_only_errors(sql, located="-f" in argv))
            return _result(0, stderr=db.replay(sql, located="-f" in argv))
        if "count(*)" in sql:
            out, error = db.row_counts(database, sql)
            return _result(3, stderr=f"psql:<stdin>:1: {error}\n") if error else _result(0, stdout=out)
        statements = [s.strip() for s in sql.replace("\\q", "").split("\n") if s.strip()]
        if not any(s.upper().startswith(("ALTER USER ", "ALTER ROLE ")) for s in statements):
            # drop-databases, grant-connect, run-sql, the plan's schema-version read (fake_db.statements)
            if not leader and any(s.upper().startswith(("REVOKE", "GRANT", "DROP", "DELETE")) for s in statements):
                return _result(3, stderr=f"psql:<stdin>:1: {READ_ONLY.format(what='the statement')}\n")
            out, error = db.statements(database, sql)
            return _result(3, stderr=error + "\n") if error else _result(0, stdout=out)
        for line_no, statement in enumerate(statements, 1):
            if statement.upper().startswith("SET "):
                continue
            if not statement.upper().startswith(("ALTER USER ", "ALTER ROLE ")):
                raise AssertionError(f"the fake psql does not know {statement[:60]!r}; teach tests/fakes/fake_db.py")
            if not leader:
                return _result(3, stderr=f"psql:<stdin>:{line_no}: {READ_ONLY.format(what='ALTER ROLE')}\n")
            db.replay(statement)
        return _result(0)

    def _pg_dumpall(self, where: str, argv: list[str], db: FakeDatabase | None,
                    on_stdout: Callable[[bytes], None] | None, faults: list[Fault],
                    in_time: Callable[[], None]) -> ExecResult:
        """`pg_dumpall [-c] -U postgres` in a Spilo pod (any member: a dump only reads): the database as
        it is, streamed out in pieces through on_stdout (else the tail, as the adapter keeps it)."""
        if argv[1:] not in (["-c", "-U", "postgres"], ["-U", "postgres"]):
            raise AssertionError(f"the fake pg_dumpall does not know {argv!r}; teach tests/fakes/fake_kube.py")
        if db is None:
            return _result(1, stderr='pg_dumpall: error: connection to server on socket "/var/run/postgresql/.s.'
                                     'PGSQL.5432" failed: No such file or directory\n')
        out = db.dump(clean="-c" in argv).encode()
        tail = bytearray()
        for start in range(0, len(out), DUMP_CHUNK):
            in_time()
            chunk = out[start:start + DUMP_CHUNK]
            if on_stdout is not None:
                on_stdout(chunk)
            else:
                tail = (tail + chunk)[-65536:]
            self.execs[-1].streamed = start + len(chunk)
            self.stage.passing(faults, start + len(chunk), f"the stdout of pg_dumpall in {where}")
        return _result(0, stdout=tail.decode())

    def _patronictl(self, ns: str, cluster: str | None) -> ExecResult:
        if cluster is None:
            return _result(127, stderr="bash: patronictl: command not found\n")
        members = []
        for p in sorted(self._list("Pod", ns, f"application=spilo,cluster-name={cluster}"),
                        key=lambda p: p["metadata"]["name"]):
            name = p["metadata"]["name"]
            members.append({"Cluster": cluster, "Member": name, "Host": p["status"].get("podIP"),
                            "Role": "Leader" if self.leaders.get((ns, cluster)) == name else "Replica",
                            "State": "running" if is_live(p) else "stopped", "TL": 1, "Lag in MB": 0})
        return _result(0, stdout=json.dumps(members))

    # == the controllers =======================================================================
    def settle(self) -> None:
        """Let the controllers run until nothing changes (what time passing does in a real cluster)."""
        for _ in range(50):
            changed = self._operator()
            changed = self._workloads() or changed
            changed = self._jobs() or changed
            if not changed:
                return
        raise AssertionError("the fake's controllers do not settle")

    # -- the postgres-operator, with Patroni ------------------------------------------------------
    def _operator(self) -> bool:
        changed = False
        while self._cleanup:
            ns, name, uid, spec = self._cleanup.pop(0)
            for pod in self._pods_of_cluster(ns, name, uid):
                del self.objects[self._key(pod)]
            for user in (*SYSTEM_USERS, *(spec.get("users") or {})):
                self.objects.pop(("Secret", ns, secret_name(user, name)), None)
            if spec.get("enableLogicalBackup"):  # Delete(): deleteLogicalBackupJob, before the StatefulSet
                self.objects.pop(("CronJob", ns, logical_backup_cronjob(name)), None)
            if (db := self.databases.get((ns, name))) is not None and db.cluster_uid == uid:
                self.retired.append(self.databases.pop((ns, name)))
                self.leaders.pop((ns, name), None)
            changed = True
        for pg in [o for (k, _, _), o in list(self.objects.items()) if k == "postgresql"]:
            changed = self._sync_cluster(pg) or changed
        return changed

    def _sync_cluster(self, pg: dict) -> bool:
        ns, name, uid = pg["metadata"]["namespace"], pg["metadata"]["name"], pg["metadata"]["uid"]
        spec = pg["spec"]
        n = int(spec.get("numberOfInstances", 1))
        changed = False
        users = (*SYSTEM_USERS, *sorted(spec.get("users") or {}))
        passwords = {}
        for user in users:  # syncSecrets: create missing ones; a wrong username gets a new password
            s = self._get("Secret", ns, secret_name(user, name))
            if s is None or unb64(s["data"].get("username")) != user:
                password = self.random_password()
                self._put_secret_object(ns, secret_name(user, name), user, password,
                                        {"application": "spilo", "cluster-name": name, "team": spec.get("teamId", "")})
                changed = True
            else:
                password = unb64(s["data"].get("password"))
            passwords[user] = password
        db = self.databases.get((ns, name))
        if db is None or db.cluster_uid != uid:
            db = self.databases[(ns, name)] = FakeDatabase.bootstrap(uid, passwords, spec.get("databases") or {})
            for database, tables in self.seed_tables.pop((ns, name), {}).items():
                db.seed(database, tables)
            first = self.leader_on_create.get(name, 0)
            self.leaders[(ns, name)] = f"{name}-{first if first < n else 0}"
            changed = True
        pods = {p["metadata"]["name"]: p for p in self._pods_of_cluster(ns, name, uid)}
        for pod in list(pods.values()):  # termination finished: the pod goes, Patroni fails over
            if pod["metadata"].get("deletionTimestamp"):
                del self.objects[self._key(pod)]
                del pods[pod["metadata"]["name"]]
                self._fail_over(ns, name, pod["metadata"]["name"], pods.values())
                changed = True
        for pod_name, pod in pods.items():
            if int(pod_name.rsplit("-", 1)[1]) >= n:
                self._terminate(pod)
                changed = True
        for i in range(n):
            if f"{name}-{i}" not in pods:
                self._spilo_pod(ns, name, uid, i, spec)
                changed = True
        changed = self._spilo_readiness(ns, name, uid) or changed
        if spec.get("enableLogicalBackup") and self._get("CronJob", ns, logical_backup_cronjob(name)) is None:
            self._logical_backup_cronjob(ns, name)  # Create(): createLogicalBackupJob, spec without suspend
            changed = True
        members = self._pods_of_cluster(ns, name, uid)
        running = len([p for p in members if is_live(p) and is_ready(p)]) == n and len(members) == n
        status = "Running" if running else (pg.get("status") or {}).get("PostgresClusterStatus", "Creating")
        if (pg.get("status") or {}).get("PostgresClusterStatus") != status:
            pg["status"] = {"PostgresClusterStatus": status}
            self._bump(pg)
            changed = True
        return changed

    def _logical_backup_cronjob(self, ns: str, cluster: str) -> None:
        name = logical_backup_cronjob(cluster)
        template = {"metadata": {"labels": {"application": "spilo-logical-backup", "cluster-name": cluster}},
                    "spec": {"containers": [{"name": name, "image": "registry.opensource.zalan.do/acid/logical-backup:"
                                                                    "v1.8.2"}], "restartPolicy": "Never"}}
        self.add({"kind": "CronJob", "metadata": {"name": name, "namespace": ns,
                                                  "labels": {"application": "spilo-logical-backup",
                                                             "cluster-name": cluster}},
                  "spec": {"schedule": "30 00 * * *", "concurrencyPolicy": "Forbid",
                           "jobTemplate": {"spec": {"template": template}}}})

    def _fail_over(self, ns: str, cluster: str, gone: str, members: Iterable[dict]) -> None:
        """The leader's pod went: another Ready member takes the key; with none, the key stays."""
        if self.leaders.get((ns, cluster)) != gone:
            return
        candidates = sorted(p["metadata"]["name"] for p in members if is_live(p) and is_ready(p))
        if candidates:
            self.leaders[(ns, cluster)] = candidates[0]

    def _spilo_pod(self, ns: str, cluster: str, cluster_uid: str, i: int, spec: dict) -> None:
        env = {}
        for user in SYSTEM_USERS:  # PGPASSWORD_SUPERUSER / PGPASSWORD_STANDBY, from the secrets at start
            s = self._get("Secret", ns, secret_name(user, cluster))
            env[user] = unb64(s["data"].get("password")) if s else None
        pod = self._pod(ns, f"{cluster}-{i}", {"application": "spilo", "cluster-name": cluster,
                                               "team": spec.get("teamId", "")},
                        [{"kind": "StatefulSet", "name": cluster, "uid": cluster_uid, "controller": True}],
                        ["postgres"], NODES[i % len(NODES)])
        self.pod_env[pod["metadata"]["uid"]] = env
        self.pod_cluster[pod["metadata"]["uid"]] = cluster_uid

    def _spilo_readiness(self, ns: str, cluster: str, uid: str) -> bool:
        """The leader is Ready; a replica only if, when it started, the standby password it was given
        opened the database (it clones with pg_basebackup as standby; once streaming it stays up)."""
        changed = False
        db = self.databases[(ns, cluster)]
        leader = self.leaders.get((ns, cluster))
        for pod in self._pods_of_cluster(ns, cluster, uid):
            name = pod["metadata"]["name"]
            if not is_live(pod):
                role = None
                ready = False
            elif name == leader:
                role, ready = "master", True
            else:
                pod_uid = pod["metadata"]["uid"]
                if pod_uid not in self.cloned:  # pg_basebackup from the leader as standby, once, when it starts
                    standby = self.pod_env.get(pod_uid, {}).get("standby")
                    self.cloned[pod_uid] = standby is not None and db.login("standby", standby, "postgres") is None
                role, ready = "replica", self.cloned[pod_uid]
            changed = self._set_pod(pod, ready, role if self.role_labels else None) or changed
        return changed

    def _pods_of_cluster(self, ns: str, cluster: str, uid: str) -> list[dict]:
        return [p for p in self._list("Pod", ns, f"application=spilo,cluster-name={cluster}")
                if self.pod_cluster.get(p["metadata"]["uid"]) == uid]

    # -- StatefulSets, Deployments, DaemonSets ------------------------------------------------------
    def _workloads(self) -> bool:
        changed = False
        pods_of: dict[tuple[str, str], list[dict]] = {}  # (namespace, owner uid) -> pods
        for (k, pns, _), p in list(self.objects.items()):
            if k == "Pod":
                for o in p["metadata"]["ownerReferences"]:
                    pods_of.setdefault((pns, o.get("uid")), []).append(p)
        for (kind, _, _), w in list(self.objects.items()):
            if kind in WORKLOAD_KINDS:
                owned = pods_of.get((w["metadata"]["namespace"], w["metadata"]["uid"]), [])
                changed = self._sync_workload(w, owned) or changed
        return changed

    def _sync_workload(self, w: dict, owned: list[dict]) -> bool:
        kind, ns, name, uid = w["kind"], w["metadata"]["namespace"], w["metadata"]["name"], w["metadata"]["uid"]
        template = w["spec"]["template"]
        revision = hashlib.md5(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]
        changed = False
        for pod in owned:
            if pod["metadata"].get("deletionTimestamp"):
                del self.objects[self._key(pod)]
                changed = True
            elif pod["metadata"]["labels"].get("controller-revision-hash") != revision:
                self._terminate(pod)  # a rollout: every pod of the old template is replaced
                changed = True
        current = sorted((p for p in owned if self._key(p) in self.objects and is_live(p)),
                         key=lambda p: p["metadata"]["name"])
        labels = {**(template.get("metadata") or {}).get("labels", {}), "controller-revision-hash": revision}
        containers = [c["name"] for c in template["spec"].get("containers") or [{"name": "main"}]]
        owner = [{"kind": {"Deployment": "ReplicaSet"}.get(kind, kind), "uid": uid, "controller": True,
                  "name": f"{name}-{revision}" if kind == "Deployment" else name}]
        if kind == "StatefulSet":
            want = {f"{name}-{i}" for i in range(int(w["spec"].get("replicas") or 0))}
            for pod in self._condemned(w, current, want):
                self._terminate(pod)
                changed = True
            have = {p["metadata"]["name"] for p in owned if self._key(p) in self.objects}
            for i, pod_name in enumerate(sorted(want, key=lambda n: int(n.rsplit("-", 1)[1]))):
                if pod_name not in have:
                    self._pod(ns, pod_name, labels, owner, containers, NODES[i % len(NODES)])
                    changed = True
        elif kind == "Deployment":
            want_n = int(w["spec"].get("replicas") or 0)
            for pod in current[want_n:]:
                self._terminate(pod)
                changed = True
            for i in range(len(current), want_n):
                self._pod(ns, f"{name}-{revision}-{self._suffix()}", labels, owner, containers, NODES[i % len(NODES)])
                changed = True
        else:  # DaemonSet: one pod per node
            on = {p["spec"]["nodeName"] for p in current}
            for node in NODES:
                if node not in on:
                    self._pod(ns, f"{name}-{self._suffix()}", labels, owner, containers, node)
                    changed = True
        for pod in [p for p in self._list("Pod", ns, "") if any(o.get("uid") == uid for o in
                                                                   p["metadata"]["ownerReferences"])]:
            changed = self._set_pod(pod, is_live(pod) and self._login_ok(pod), None) or changed
        return self._workload_status(w, revision) or changed

    @staticmethod
    def _condemned(w: dict, current: list[dict], want: set[str]) -> list[dict]:
        """The pods a scale-down removes now. Parallel: all at once. OrderedReady (the default), as
        Kubernetes v1.20 stateful_set_control.go: the highest ordinal first, one at a time, and a pod
        that is not Ready blocks unless it is the lowest such pod."""
        ordinal = lambda p: int(p["metadata"]["name"].rsplit("-", 1)[1])  # noqa: E731
        condemned = sorted((p for p in current if p["metadata"]["name"] not in want), key=ordinal, reverse=True)
        if not condemned or w["spec"].get("podManagementPolicy") == "Parallel":
            return condemned
        unready = sorted((p for p in current if not is_ready(p)), key=ordinal)
        target = condemned[0]
        return [target] if is_ready(target) or target is unready[0] else []

    def _workload_status(self, w: dict, revision: str) -> bool:
        uid, ns = w["metadata"]["uid"], w["metadata"]["namespace"]
        pods = [p for p in self._list("Pod", ns, "") if is_live(p)
                and any(o.get("uid") == uid for o in p["metadata"]["ownerReferences"])]
        ready = len([p for p in pods if is_ready(p)])
        updated = len([p for p in pods if p["metadata"]["labels"].get("controller-revision-hash") == revision])
        gen = w["metadata"]["generation"]
        if w["kind"] == "DaemonSet":
            status = {"desiredNumberScheduled": len(NODES), "currentNumberScheduled": len(pods), "numberReady": ready,
                      "updatedNumberScheduled": updated, "numberAvailable": ready, "observedGeneration": gen}
        else:
            status = {"replicas": len(pods), "readyReplicas": ready, "updatedReplicas": updated,
                      "availableReplicas": ready, "observedGeneration": gen}
            if w["kind"] == "StatefulSet":
                status.update(currentReplicas=updated, updateRevision=f"{w['metadata']['name']}-{revision}")
        if w.get("status") == status:
            return False
        w["status"] = status
        self._bump(w)
        return True

    # -- Jobs -----------------------------------------------------------------------------------
    def _jobs(self) -> bool:
        changed = False
        for (kind, ns, name), job in list(self.objects.items()):
            if kind != "Job":
                continue
            pods = [p for p in self._list("Pod", ns, "") if any(o.get("kind") == "Job" and o.get("uid") ==
                                                                 job["metadata"]["uid"]
                                                                 for o in p["metadata"]["ownerReferences"])]
            if job["metadata"].get("deletionTimestamp"):  # foreground deletion: pods, then the Job
                for pod in pods:
                    del self.objects[self._key(pod)]
                del self.objects[(kind, ns, name)]
                changed = True
                continue
            if job_complete(job):
                continue
            template = job["spec"]["template"]
            labels = (template.get("metadata") or {}).get("labels") or {}
            if not pods:
                containers = [c["name"] for c in template["spec"].get("containers") or [{"name": "main"}]]
                pods = [self._pod(ns, f"{name}-{self._suffix()}", labels,
                                  [{"kind": "Job", "name": name, "uid": job["metadata"]["uid"], "controller": True}],
                                  containers, NODES[0])]
                changed = True
            if self._login_ok(pods[0]):
                pods[0]["status"].update(phase="Succeeded", conditions=[{"type": "Ready", "status": "False",
                                                                         "reason": "PodCompleted"}])
                self._bump(pods[0])
                job["status"] = {"succeeded": 1, "startTime": job["metadata"]["creationTimestamp"],
                                 "completionTime": self._stamp(),
                                 "conditions": [{"type": "Complete", "status": "True"}]}
                self._bump(job)
                if (effect := self.job_effects.get(owner_cronjob(job) or "")) is not None:
                    effect(copy.deepcopy(job))
                changed = True
        return changed

    def _login_ok(self, pod: dict) -> bool:
        ns = pod["metadata"]["namespace"]
        for login in self.logins:
            if login.namespace != ns or not matches(pod["metadata"]["labels"], login.selector):
                continue
            secret = self._get("Secret", ns, login.secret)
            db = self.databases.get((ns, login.cluster))
            leader = self._get("Pod", ns, self.leaders.get((ns, login.cluster), ""))
            if secret is None or db is None or leader is None or not (is_live(leader) and is_ready(leader)):
                return False
            user, password = unb64(secret["data"].get("username")), unb64(secret["data"].get("password"))
            if db.login(user, password, login.database) is not None:
                return False
        return True

    # == for tests: acting on the world and looking at it =======================================
    def set_leader(self, ns: str, cluster: str, pod: str) -> None:
        """`patronictl switchover --candidate pod`: the leader key moves; labels follow at settle()."""
        assert self._get("Pod", ns, pod) is not None, f"no pod {ns}/{pod}"
        self.leaders[(ns, cluster)] = pod
        self.settle()

    def run_cronjob(self, ns: str, name: str) -> str:
        """`kubectl create job --from=cronjob/<name>`: a Job of the CronJob's template, suspended or not.
        It runs when time passes (settle)."""
        cron = self._must("CronJob", ns, name, f"cronjob {ns}/{name}")
        job_name = f"{name}-{28570000 + self._tick}"
        spec = copy.deepcopy(cron["spec"]["jobTemplate"]["spec"])
        self._start_job(ns, {"apiVersion": "batch/v1", "metadata": {
            "name": job_name, "labels": dict((spec["template"].get("metadata") or {}).get("labels") or {}),
            "ownerReferences": [{"apiVersion": cron["apiVersion"], "kind": "CronJob", "name": name,
                                 "uid": cron["metadata"]["uid"], "controller": True}]}, "spec": spec})
        return job_name

    def cronjob_tick(self, ns: str) -> list[str]:
        """The CronJobs' schedule comes round: each one not suspended starts a Job. The Jobs made."""
        crons = [c for c in self._list("CronJob", ns, "") if not c["spec"].get("suspend")]
        return [self.run_cronjob(ns, c["metadata"]["name"]) for c in crons]

    def doubled_rows(self) -> list[str]:
        """Every COPY that appended to a table holding rows, in any database this cluster ever had."""
        dbs = [*self.retired, *self.databases.values()]
        return [entry for db in dbs for entry in db.doubled]

    def restart_pod(self, ns: str, name: str) -> None:
        """A pod crashes and is re-created by its controller: a new uid, and its workload's status
        (readyReplicas, resourceVersion) moves down and up again, as a crash-looping client's does."""
        pod = self._must("Pod", ns, name, f"pod {ns}/{name}")
        self._terminate(pod)
        del self.objects[self._key(pod)]
        self._fail_over(ns, pod["metadata"]["labels"].get("cluster-name", ""), name,
                        self._list("Pod", ns, "application=spilo"))
        for (kind, _, _), w in list(self.objects.items()):
            owners = {o.get("uid") for o in pod["metadata"]["ownerReferences"]}
            if kind in WORKLOAD_KINDS and w["metadata"]["uid"] in owners:
                self._workload_status(w, pod["metadata"]["labels"].get("controller-revision-hash", ""))
        self.settle()

    def process_died(self) -> None:
        """The apply that held a lease is gone: its holder's pid names no process any more."""
        dead = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1 if Path("/proc/sys/kernel/pid_max").exists() \
            else 99_999_999
        for (kind, _, _), lease in self.objects.items():
            if kind == "Lease":
                holder = lease["spec"].get("holderIdentity") or ""
                lease["spec"]["holderIdentity"] = holder.rsplit("/pid-", 1)[0] + f"/pid-{dead}"
                self._bump(lease)

    def pods(self, ns: str, selector: str) -> list[dict]:
        return [copy.deepcopy(p) for p in self._list("Pod", ns, selector) if is_live(p)]

    def credentials(self, ns: str, name: str) -> tuple[str, str] | None:
        s = self._get("Secret", ns, name)
        return (unb64(s["data"].get("username")), unb64(s["data"].get("password"))) if s else None

    def database(self, ns: str, cluster: str) -> FakeDatabase | None:
        return self.databases.get((ns, cluster))

    def obj(self, kind: str, ns: str, name: str) -> dict | None:
        return self._copy(self._get(kind, ns, name))

    def random_password(self) -> str:
        return "".join(self._rng.choice(string.ascii_letters + string.digits) for _ in range(64))

    def snapshot(self, passwords: bool = True) -> dict:
        """The world as a user would compare it: settings, readiness, secrets, data; without uids,
        resourceVersions, timestamps or generated names. passwords=False replaces each secret's
        password and each role's verifier with whether they match (for runs whose new passwords
        are random)."""
        out: dict[str, Any] = {}
        for (kind, ns, name), o in sorted(self.objects.items()):
            address = f"{kind.lower()}/{ns}/{name}"
            if kind in WORKLOAD_KINDS:
                pods = [p for p in self._list("Pod", ns, "") if is_live(p) and
                        any(r.get("uid") == o["metadata"]["uid"] for r in p["metadata"]["ownerReferences"])]
                out[address] = {"replicas": o["spec"].get("replicas"), "ready_pods": len([p for p in pods
                                                                                          if is_ready(p)]),
                                "restarted": RESTARTED_AT in ((o["spec"]["template"].get("metadata") or {})
                                                              .get("annotations") or {})}
            elif kind == "Pod" and o["metadata"]["labels"].get("application") == "spilo":
                out[address] = {"role": o["metadata"]["labels"].get("spilo-role"), "ready": is_ready(o),
                                "live": is_live(o)}
            elif kind == "postgresql":
                out[address] = {"spec": o["spec"], "status": o.get("status")}
            elif kind == "Secret":
                user, password = unb64(o["data"].get("username")), unb64(o["data"].get("password"))
                out[address] = {"username": user, "labels": o["metadata"]["labels"],
                                "password": password if passwords else "(set)"}
            elif kind == "Job":
                labels = {k: v for k, v in o["metadata"]["labels"].items() if k not in GENERATED_JOB_LABELS}
                out[address] = {"complete": job_complete(o), "labels": labels,
                                "deleting": bool(o["metadata"].get("deletionTimestamp"))}
            elif kind == "CronJob":
                out[address] = {"suspend": bool(o["spec"].get("suspend")), "schedule": o["spec"].get("schedule"),
                                "apiVersion": o["apiVersion"]}
            elif kind == "Lease":
                out[address] = "held"
            elif kind == "ConfigMap" and "journal.json" in (o.get("data") or {}):
                out[address] = {"journal_status": json.loads(o["data"]["journal.json"])["status"]}
        for (ns, cluster), db in sorted(self.databases.items()):
            summary = db.summary()
            if not passwords:
                summary["roles"] = {role: self._role_matches_secret(ns, cluster, role) for role in summary["roles"]}
            out[f"database/{ns}/{cluster}"] = summary
        return out

    def _role_matches_secret(self, ns: str, cluster: str, role: str) -> str:
        creds = self.credentials(ns, secret_name(role, cluster))
        if creds is None:
            return "(no secret)"
        db = self.databases[(ns, cluster)]
        return "opens with its secret" if db.login(role, creds[1], "postgres") is None else "DOES NOT open"

    # == storage ===============================================================================
    @staticmethod
    def _key(obj: dict) -> tuple[str, str, str]:
        return obj["kind"], obj["metadata"].get("namespace", "default"), obj["metadata"]["name"]

    def _get(self, kind: str, ns: str, name: str) -> dict | None:
        return self.objects.get((kind, ns, name))

    def _must(self, kind: str, ns: str, name: str, what: str) -> dict:
        obj = self._get(kind, ns, name)
        if obj is None:
            raise NotFound(f"{what}: not found")
        return obj

    def _list(self, kind: str, ns: str, selector: str) -> list[dict]:
        found = [(key, o) for key, o in self.objects.items() if key[0] == kind and key[1] == ns]
        return [o for _, o in sorted(found, key=lambda ko: ko[0]) if matches(o["metadata"].get("labels"), selector)]

    @staticmethod
    def _copy(obj: dict | None) -> dict | None:
        return copy.deepcopy(obj) if obj is not None else None

    @staticmethod
    def _item(obj: dict) -> dict:
        """An object as a list (or watch) returns it: built-in kinds carry no kind or apiVersion there."""
        item = copy.deepcopy(obj)
        if obj["kind"] != "postgresql":
            item.pop("kind", None)
            item.pop("apiVersion", None)
        return item

    def _new_uid(self) -> str:
        self._uid += 1
        return f"0000f4ce-0000-4000-8000-{self._uid:012x}"

    def _stamp(self) -> str:
        self._tick += 1
        return (EPOCH + timedelta(seconds=self._tick)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _bump(self, obj: dict) -> None:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(100000 + self._rv)

    def _suffix(self) -> str:
        return "".join(self._rng.choice(string.ascii_lowercase + string.digits) for _ in range(5))

    def _create(self, body: dict, status: dict | None = None) -> dict:
        obj = copy.deepcopy(body)
        meta = obj["metadata"]
        for server_field in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "generation"):
            meta.pop(server_field, None)
        if status is not None:
            obj["status"] = status
        return self.add(obj)

    def _secret_body(self, ns: str, body: dict) -> dict:
        obj = copy.deepcopy(body)
        obj.setdefault("kind", "Secret")
        obj.setdefault("apiVersion", "v1")
        obj.setdefault("type", "Opaque")
        meta = obj["metadata"]
        meta["namespace"] = ns
        meta.setdefault("labels", {})
        data = dict(obj.get("data") or {})
        for k, v in (obj.pop("stringData", None) or {}).items():
            data[k] = b64(v)
        obj["data"] = data
        return obj

    def _create_secret(self, ns: str, body: dict) -> None:
        name = body["metadata"]["name"]
        if self._get("Secret", ns, name) is not None:
            raise Conflict(f"create secret {ns}/{name}: conflict (exists already, or changed since read)")
        self._create(self._secret_body(ns, body))

    def _put_secret_object(self, ns: str, name: str, user: str, password: str, labels: dict) -> None:
        self.objects.pop(("Secret", ns, name), None)
        self._create({"kind": "Secret", "type": "Opaque", "metadata": {"name": name, "namespace": ns,
                                                                       "labels": labels},
                      "data": {"username": b64(user), "password": b64(password)}})

    def _pod(self, ns: str, name: str, labels: dict, owners: list[dict], containers: list[str], node: str) -> dict:
        return self.add({"kind": "Pod", "apiVersion": "v1",
                         "metadata": {"name": name, "namespace": ns, "labels": dict(labels), "ownerReferences": owners},
                         "spec": {"nodeName": node, "containers": [{"name": c} for c in containers]},
                         "status": {"phase": "Running", "podIP": f"10.32.0.{self._uid % 250 + 1}",
                                    "conditions": [{"type": "Ready", "status": "False"}]}})

    def _set_pod(self, pod: dict, ready: bool, role: str | None) -> bool:
        """Set a pod's Ready condition and, for Spilo pods, its spilo-role label; True if that changed."""
        labels = pod["metadata"]["labels"]
        want_role = role if labels.get("application") == "spilo" else labels.get("spilo-role")
        if is_ready(pod) == ready and labels.get("spilo-role") == want_role:
            return False
        pod["status"]["conditions"] = [{"type": "Ready", "status": "True" if ready else "False"}]
        if want_role is None:
            labels.pop("spilo-role", None)
        else:
            labels["spilo-role"] = want_role
        self._bump(pod)
        return True

    def _terminate(self, pod: dict) -> None:
        if not pod["metadata"].get("deletionTimestamp"):
            pod["metadata"]["deletionTimestamp"] = self._stamp()
            pod["metadata"]["labels"].pop("spilo-role", None)  # Patroni stops; Spilo's callback drops the role
            self._bump(pod)


def _result(code: int, stdout: str = "", stderr: str = "") -> ExecResult:
    return ExecResult(code, stdout, stderr, PROTOCOL)


def _read_only_errors(sql: str, located: bool) -> str:
    """What psql prints replaying a dump into a standby: every write refused. With `-f -` psql
    names the line of the script each error came from (psql:<stdin>:N:)."""
    out = []
    for n, line in enumerate(sql.split("\n"), 1):
        for statement in WRITES:
            if line.startswith(statement + " "):
                where = f"psql:<stdin>:{n}: " if located else ""
                out.append(where + READ_ONLY.format(what=statement))
    return "\n".join(out) + "\n"


def is_restore(argv: list[str]) -> bool:
    """The exec of a dump replay (psql without ON_ERROR_STOP), as opposed to ALTER USER or row counts."""
    return argv[0] == "psql" and "ON_ERROR_STOP=1" not in argv
