"""A simulated Zalando postgres-operator (v1.8.2, as CSM runs it), faithful where pgrestore can tell.

Like the real controller (pkg/controller/postgresql.go), it turns what it sees into
events and hands each cluster's events to that cluster's own worker, one at a time:
- a new `postgresql` → Create; a spec change (metadata.generation) → Update;
- a deleted one → Delete (a re-created one: Delete of the old, then Create);
- every resync period (settings.resync_seconds; CSM: 5m) → Sync of every cluster, and
  once at start. The real repair scan (repair_period 5m) never fires on its own with
  CSM's equal resync period, so it is not modelled.
The events themselves are in cluster.py. A worker blocked in a slow Create delays that
cluster's later events, as on the real operator.

Differences left in on purpose: no Services/Endpoints/PDB, and no password sync of app
users (the real operator re-sets them once it can log in as `postgres`), which makes the
sandbox stricter than production, never more lenient.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

from kubernetes import client

from . import registry, settings
from .cluster import ClusterActions
from .coordination import ClusterLocks, VolumeReleases
from .kube import CRD_GROUP, CRD_PLURAL, CRD_VERSION, Api, as_dict, is_not_found
from .loop import reconcile_forever
from .paths import StateDir

log = logging.getLogger("sandbox.operator")


class Operator:
    def __init__(self, api: Api, state: StateDir, locks: ClusterLocks, volumes: VolumeReleases):
        self.api, self.state = api, state
        self.actions = ClusterActions(api, state, locks, volumes)
        self._known: dict[str, tuple[str, int]] = {}  # key -> (uid, generation) events were made for
        self._deleting: set[str] = set()
        self._workers: dict[str, ClusterWorker] = {}
        self._last_sync = float("-inf")  # the operator syncs every cluster when it starts
        self._stop = threading.Event()

    def run(self, stop: threading.Event) -> None:
        self._stop = stop
        reconcile_forever(stop, self.dispatch, self.api.custom.list_cluster_custom_object,
                          CRD_GROUP, CRD_VERSION, CRD_PLURAL, log=log, name="postgresqls")

    def dispatch(self) -> None:
        items = as_dict(self.api.custom.list_cluster_custom_object(CRD_GROUP, CRD_VERSION, CRD_PLURAL))["items"]
        live = {registry.cluster_key(i["metadata"]["namespace"], i["metadata"]["name"]): i for i in items}
        entries = registry.load(self.state.clusters)
        for key, cr in live.items():
            self._saw(key, cr, entries.get(key))
        for key in (set(self._known) | set(entries)) - set(live):
            self._known.pop(key, None)
            self._queue_delete(key, None)
        if time.monotonic() - self._last_sync >= settings.load(self.state).resync_seconds:
            self._last_sync = time.monotonic()
            for key, cr in live.items():
                self._worker(key).put("sync", cr["metadata"]["uid"])

    def _saw(self, key: str, cr: dict, entry: dict | None) -> None:
        uid, generation = cr["metadata"]["uid"], cr["metadata"].get("generation", 1)
        known = self._known.get(key)
        if known is None and entry and entry["uid"] == uid:
            self._known[key] = known = (uid, generation)  # after a daemon restart: the start-up Sync covers it
        if known is None or known[0] != uid:
            if entry or known:
                # Deleted and re-created between two looks: the old one goes first.
                self._queue_delete(key, cr["metadata"]["creationTimestamp"])
            self._worker(key).put("create", uid)
        elif known[1] != generation:
            self._worker(key).put("update", uid)
        self._known[key] = (uid, generation)

    def _queue_delete(self, key: str, keep_secrets_since: str | None) -> None:
        if key not in self._deleting:
            self._deleting.add(key)
            self._worker(key).put("delete", key, keep_secrets_since)

    def _worker(self, key: str) -> "ClusterWorker":
        if key not in self._workers:
            self._workers[key] = ClusterWorker(key, self._handle, self._stop)
        return self._workers[key]

    def _handle(self, key: str, kind: str, ref: str, extra) -> None:
        ns, name = key.split("/", 1)
        if kind == "delete":
            try:
                self.actions.delete(key, ns, name, extra)
            finally:
                self._deleting.discard(key)
            return
        cr = self._read(ns, name)
        if cr is None or cr["metadata"]["uid"] != ref:
            return  # replaced or gone since; its own events follow
        getattr(self.actions, kind)(key, cr)

    def _read(self, ns: str, name: str) -> dict | None:
        try:
            return as_dict(self.api.custom.get_namespaced_custom_object(CRD_GROUP, CRD_VERSION, ns, CRD_PLURAL, name))
        except client.ApiException as e:
            if is_not_found(e):
                return None
            raise


class ClusterWorker:
    """One cluster's event queue, worked through in order on its own thread."""

    def __init__(self, key: str, handle, stop: threading.Event):
        self.key, self._handle, self._stop = key, handle, stop
        self._queue: queue.Queue = queue.Queue()
        self._pending: set[tuple[str, str]] = set()
        self._guard = threading.Lock()
        threading.Thread(target=self._loop, daemon=True, name=f"cluster {key}").start()

    def put(self, kind: str, ref: str, extra=None) -> None:
        with self._guard:
            if kind != "delete" and (kind, ref) in self._pending:
                return  # the one already queued reads the newest spec anyway
            self._pending.add((kind, ref))
        self._queue.put((kind, ref, extra))

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                kind, ref, extra = self._queue.get(timeout=1.0)
            except queue.Empty:
                continue
            with self._guard:
                self._pending.discard((kind, ref))
            try:
                self._handle(self.key, kind, ref, extra)
            except Exception:  # noqa: BLE001 - one failed event must not stop the cluster's worker
                log.exception("%s event for %s failed", kind, self.key)
