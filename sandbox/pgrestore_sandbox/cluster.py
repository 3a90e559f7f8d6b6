"""One cluster's Create, Update, Sync and Delete, with the status each writes.

Modelled on postgres-operator v1.8.2 (pkg/cluster/cluster.go Create/Update/Delete,
pkg/cluster/sync.go Sync). The status is written only by these events, never recomputed:
- Create: Creating, then Running, or CreateFailed when the pods are not up and labelled or
  the database cannot be opened as `postgres` within the create timeout; the roles and
  databases are created only after that wait, so a client that starts on Ready pods
  races the operator, as on CSM;
- Update (a spec change): Updating, then Running right after the StatefulSet is synced
  and the roles are checked (it does not wait for new replicas), or UpdateFailed;
- Sync (every resync period): SyncFailed on any error (written every time, as the real
  one does), otherwise Running only if the status is not Running already.
Like the real operator, Update logs in with the `postgres` password it adopted at the last
Create/Sync (or Update that changed users), not with the one in the Secret now.
With `enableLogicalBackup: true` the events also keep the `logical-backup-<cluster>` CronJob
(cluster.go Create/Update/Delete, sync.go syncLogicalBackupJob; see cronjobs.py).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from pathlib import Path

import psycopg
from kubernetes import client

from . import cronjobs, registry, settings, statefulset
from .bootstrap import bootstrap_volume, create_missing_roles, sync_databases, wipe_volume
from .coordination import ClusterLocks, VolumeReleases
from .credentials import read_password, sync_secrets
from .errors import SandboxError
from .kube import (
    CRD_GROUP,
    CRD_PLURAL,
    CRD_VERSION,
    Api,
    as_dict,
    is_not_found,
    meta,
    name_of,
    namespace_of,
    required,
    status_of,
    uid_of,
)
from .login import connect, refused
from .paths import StateDir
from .pgserver import PgServer
from .timing import profile

log = logging.getLogger("sandbox.operator")

# The real operator retries a database connection for PostgresConnectRetryTimeout (2m,
# pkg/util/constants/postgresql.go) on network errors; scaled down so a stopped server
# does not hold a cluster's worker for minutes.
DB_CONNECT_RETRY_SECONDS = 15.0
# resource_check_interval (3s, v1.8.2 pkg/util/config/config.go): how often the operator looks
# again while it waits for pods.
RESOURCE_CHECK_INTERVAL = 3.0
# pod_deletion_wait_timeout is 10m in v1.8.2; the sandbox's pods go within seconds.
POD_DELETION_WAIT_SECONDS = 120.0

FAILURES = (SandboxError, client.ApiException, psycopg.Error)


class EventFailed(Exception):
    """A step of an event failed; the event ends with a failed status."""


class ClusterActions:
    def __init__(self, api: Api, state: StateDir, locks: ClusterLocks, volumes: VolumeReleases):
        self.api, self.state, self.locks, self.volumes = api, state, locks, volumes
        self._adopted: dict[str, dict[str, str]] = {}  # the operator's in-memory passwords, per cluster

    # -- events -----------------------------------------------------------
    def create(self, key: str, cr: dict) -> None:
        entry = registry.load(self.state.clusters).get(key)
        if entry and entry["uid"] == cr["metadata"]["uid"]:
            return  # already made
        ns, name = cr["metadata"]["namespace"], cr["metadata"]["name"]
        log.info("creating cluster %s", key)
        self._status(ns, name, "Creating")
        try:
            self._create(key, cr)
        except (EventFailed, *FAILURES) as e:
            log.warning("creating %s failed: %s", key, e)
            self._status(ns, name, "CreateFailed")
            return
        self._status(ns, name, "Running")

    def update(self, key: str, cr: dict) -> None:
        ns, name, spec = cr["metadata"]["namespace"], cr["metadata"]["name"], cr["spec"]
        entry = registry.load(self.state.clusters).get(key)
        if entry is None:
            return  # never created: a Sync or a Create will deal with it
        log.info("updating cluster %s", key)
        self._status(ns, name, "Updating")
        old, failed = entry.get("spec") or {}, False
        try:
            if old.get("users") != spec.get("users"):
                self._adopted[key] = sync_secrets(self.api, ns, name, spec)
            self._sync_statefulset(cr, deadline=time.monotonic() + self._create_timeout())
        except (EventFailed, *FAILURES) as e:
            log.warning("updating %s: %s", key, e)
            failed = True
        registry.update_entry(self.state.clusters, key, spec=spec)
        try:
            self._update_logical_backup(cr, old)
        except FAILURES as e:
            log.warning("updating %s: %s", key, e)
            failed = True
        if int(spec.get("numberOfInstances", 1)) > 0:
            try:
                passwords = self._passwords(key, ns, name)
                deadline = time.monotonic() + DB_CONNECT_RETRY_SECONDS
                with self._login(entry["port"], passwords["postgres"], deadline) as conn:
                    create_missing_roles(conn, spec, passwords)
                    if old.get("databases") != spec.get("databases"):
                        sync_databases(conn, spec)
            except (EventFailed, *FAILURES) as e:
                log.warning("updating %s: %s", key, e)
                failed = True
        self._status(ns, name, "UpdateFailed" if failed else "Running")

    def sync(self, key: str, cr: dict) -> None:
        ns, name = cr["metadata"]["namespace"], cr["metadata"]["name"]
        current = (cr.get("status") or {}).get("PostgresClusterStatus")
        try:
            self._sync(key, cr)
        except (EventFailed, *FAILURES) as e:
            log.warning("syncing %s failed: %s", key, e)
            self._status(ns, name, "SyncFailed")
            return
        if current != "Running":
            self._status(ns, name, "Running")

    def delete(self, key: str, ns: str, name: str, keep_secrets_since: str | None = None) -> None:
        """Delete(): StatefulSet (orphaning pods), each pod waited for, volumes, then secrets."""
        log.info("deleting cluster %s and its data", key)
        registry.update_entry(self.state.clusters, key, deleting=True)
        try:  # before the StatefulSet, with Orphan propagation: its Jobs and pods stay
            cronjobs.delete(self.api, ns, cronjobs.logical_backup_name(name))
        except client.ApiException as e:
            log.warning("could not remove the logical backup k8s cron job; %s", e.reason)
        statefulset.delete_orphaning_pods(self.api, ns, name)
        _wait(lambda: statefulset.read(self.api, ns, name) is None, 30)
        for pod in sorted(self._pods(ns, name), key=name_of):
            self._delete_pod_and_wait(pod)
        with self.locks.get(key):
            entry = registry.load(self.state.clusters).get(key)
            if entry:
                PgServer(Path(entry["datadir"]), entry["port"]).wipe()
                if entry.get("volume"):
                    wipe_volume(Path(entry["volume"]))
            registry.save_entry(self.state.clusters, key, None)
        self.volumes.hold(key, profile(settings.load(self.state).timing).volume_release_seconds)
        self._adopted.pop(key, None)
        self._delete_secrets(ns, name, keep_secrets_since)

    # -- steps ------------------------------------------------------------
    def _create(self, key: str, cr: dict) -> None:
        ns, name, spec = cr["metadata"]["namespace"], cr["metadata"]["name"], cr["spec"]
        deadline = time.monotonic() + self._create_timeout()
        passwords = self._adopted[key] = sync_secrets(self.api, ns, name, spec)
        volume = self.state.pg / f"{ns}.{name}"
        with self.locks.get(key):
            server = bootstrap_volume(volume, passwords, (spec.get("postgresql") or {}).get("parameters"))
            registry.save_entry(self.state.clusters, key, {
                "uid": cr["metadata"]["uid"], "namespace": ns, "name": name, "spec": spec,
                "port": server.port, "datadir": str(server.datadir), "volume": str(volume),
                # Patroni's facts: a new cluster's first leader is pod 0, whose volume it bootstrapped.
                "leader": f"{name}-0", "timeline": 1, "volumes": [f"{name}-0"],
            })
        statefulset.create(self.api, ns, name, spec)
        self._wait_pods_labelled(cr, deadline)
        if int(spec.get("numberOfInstances", 1)) > 0:
            with self._login(server.port, passwords["postgres"], deadline) as conn:
                create_missing_roles(conn, spec, passwords)
                sync_databases(conn, spec)
        if spec.get("enableLogicalBackup"):
            cronjobs.create_logical_backup(self.api, cr)

    def _sync(self, key: str, cr: dict) -> None:
        ns, name, spec = cr["metadata"]["namespace"], cr["metadata"]["name"], cr["spec"]
        passwords = self._adopted[key] = sync_secrets(self.api, ns, name, spec)
        self._sync_statefulset(cr, deadline=time.monotonic() + self._create_timeout())
        entry = registry.load(self.state.clusters).get(key)
        if entry is None:
            raise EventFailed("the cluster has no database server (its Create failed)")
        if int(spec.get("numberOfInstances", 1)) > 0:
            with self._login(entry["port"], passwords["postgres"], time.monotonic() + DB_CONNECT_RETRY_SECONDS) as conn:
                create_missing_roles(conn, spec, passwords)
                sync_databases(conn, spec)
        if spec.get("enableLogicalBackup") and int(spec.get("numberOfInstances", 1)) > 0:
            cronjobs.sync_logical_backup(self.api, cr)

    def _update_logical_backup(self, cr: dict, old: dict) -> None:
        """Update: turned on → create the CronJob; turned off → delete it; schedule changed → sync it."""
        ns, name, spec = cr["metadata"]["namespace"], cr["metadata"]["name"], cr["spec"]
        was, now = bool(old.get("enableLogicalBackup")), bool(spec.get("enableLogicalBackup"))
        if now and not was:
            cronjobs.create_logical_backup(self.api, cr)
        elif was and not now:
            cronjobs.delete(self.api, ns, cronjobs.logical_backup_name(name))
        elif now and old.get("logicalBackupSchedule") != spec.get("logicalBackupSchedule"):
            cronjobs.sync_logical_backup(self.api, cr)

    def _sync_statefulset(self, cr: dict, deadline: float) -> None:
        """syncStatefulSet: re-create a missing one (and wait for its pods), or set its replicas."""
        ns, name, spec = cr["metadata"]["namespace"], cr["metadata"]["name"], cr["spec"]
        wanted = int(spec.get("numberOfInstances", 1))
        sts = statefulset.read(self.api, ns, name)
        if sts is None:
            statefulset.create(self.api, ns, name, spec)
            self._wait_pods_labelled(cr, deadline)
        elif sts.spec.replicas != wanted:
            statefulset.scale(self.api, ns, name, wanted)

    def _wait_pods_labelled(self, cr: dict, deadline: float) -> None:
        """waitStatefulsetPodsReady (v1.8.2 pkg/cluster/util.go): the StatefulSet has all its pods, and
        each carries a spilo-role label (Patroni sets it once the member's PostgreSQL runs), at most one
        `master`. Pod readiness itself is not looked at. Checked at once, then every resource_check_interval,
        so the operator logs in to create roles and databases a few seconds after the pods are up."""
        ns, name, uid = cr["metadata"]["namespace"], cr["metadata"]["name"], cr["metadata"]["uid"]
        while True:
            sts = statefulset.read(self.api, ns, name)
            pods = [p for p in self._pods(ns, name) if not meta(p).deletion_timestamp]
            roles = [(meta(p).labels or {}).get("spilo-role") for p in pods]
            if roles.count("master") > 1:
                raise EventFailed(f"too many masters ({roles.count('master')} pods with the master label found)")
            if sts is not None and sts.spec.replicas == (status_of(sts).replicas or 0) and all(
                    r in ("master", "replica") for r in roles):
                return
            if self._current_uid(ns, name) != uid:
                # A shortcut: the real operator would sit out its 10-minute wait first.
                raise EventFailed("the postgresql was deleted while it was being created")
            if time.monotonic() > deadline:
                raise EventFailed(f"pods of {name} not up and labelled after {self._create_timeout():.0f}s")
            time.sleep(RESOURCE_CHECK_INTERVAL)

    def _login(self, port: int, password: str, deadline: float) -> psycopg.Connection:
        """initDbConn: TCP as `postgres` with the adopted password; retries only while unreachable."""
        while True:
            try:
                return connect(port, "postgres", password, "postgres")
            except psycopg.Error as e:
                if refused(e) or time.monotonic() > deadline:
                    raise EventFailed(f"could not init db connection: {str(e).strip()}") from e
            time.sleep(1.0)

    def _passwords(self, key: str, ns: str, name: str) -> dict[str, str]:
        if key not in self._adopted:  # the daemon restarted; the real operator's first Sync re-adopts
            cr_users = (registry.load(self.state.clusters).get(key) or {}).get("spec", {}).get("users") or {}
            self._adopted[key] = {u: read_password(self.api, ns, name, u) or ""
                                  for u in ("postgres", "standby", *cr_users)}
        return self._adopted[key]

    def _delete_pod_and_wait(self, pod: client.V1Pod) -> None:
        ns, name = namespace_of(pod), name_of(pod)
        try:
            self.api.core.delete_namespaced_pod(name, ns)  # the pod's own grace period, like the operator
        except client.ApiException as e:
            if not is_not_found(e):
                raise

        def gone() -> bool:
            try:
                return uid_of(self.api.core.read_namespaced_pod(name, ns)) != uid_of(pod)
            except client.ApiException as e:
                return is_not_found(e)
        if not _wait(gone, POD_DELETION_WAIT_SECONDS):
            log.warning("pod %s/%s still there after %.0fs", ns, name, POD_DELETION_WAIT_SECONDS)

    def _delete_secrets(self, ns: str, name: str, keep_since: str | None) -> None:
        since = _parse_time(keep_since) if keep_since else None
        for sec in self.api.core.list_namespaced_secret(ns, label_selector=statefulset.spilo_selector(name)).items:
            if since and required(meta(sec).creation_timestamp, "creationTimestamp for a Secret") >= since:
                continue  # made for the new cluster (e.g. a manifest applied before the create)
            try:
                self.api.core.delete_namespaced_secret(name_of(sec), ns)
            except client.ApiException as e:
                if not is_not_found(e):
                    raise

    # -- reading and writing ----------------------------------------------
    def _pods(self, ns: str, name: str) -> list[client.V1Pod]:
        return self.api.core.list_namespaced_pod(ns, label_selector=statefulset.spilo_selector(name)).items

    def _current_uid(self, ns: str, name: str) -> str | None:
        try:
            return as_dict(self.api.custom.get_namespaced_custom_object(
                CRD_GROUP, CRD_VERSION, ns, CRD_PLURAL, name))["metadata"]["uid"]
        except client.ApiException as e:
            if is_not_found(e):
                return None
            raise

    def _create_timeout(self) -> float:
        return settings.load(self.state).create_timeout_seconds

    def _status(self, ns: str, name: str, status: str) -> None:
        try:
            self.api.custom.patch_namespaced_custom_object_status(
                CRD_GROUP, CRD_VERSION, ns, CRD_PLURAL, name, {"status": {"PostgresClusterStatus": status}})
        except client.ApiException as e:
            if not is_not_found(e):
                raise


def _wait(check, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.25)
    return False


def _parse_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
