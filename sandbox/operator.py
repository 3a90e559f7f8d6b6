"""A simulated Zalando postgres-operator, faithful where pgrestore can tell the difference.

For each `postgresql` resource: one real PostgreSQL server (its data directory is the
volume), roles and databases from the spec, credential Secrets (reused if they exist),
a StatefulSet of Spilo pods, and `status.PostgresClusterStatus`. Deleting the resource
deletes the StatefulSet, pods, Secrets and the data, as the real operator does.

Differences left in on purpose: no Services/Endpoints, no PVCs, and no password sync of
app users (the real operator re-sets them once it can log in as `postgres`), which makes
the sandbox stricter than production, never more lenient.
"""

from __future__ import annotations

import base64
import logging
import secrets as pysecrets
import string
import threading
from datetime import datetime, timezone
from pathlib import Path

from kubernetes import client

from . import registry
from .kube import CRD_GROUP, CRD_PLURAL, CRD_VERSION, Api, is_conflict, is_not_found
from .login import can_login
from .loop import reconcile_forever
from .paths import StateDir
from .pgserver import PgServer
from .procs import free_port

log = logging.getLogger("sandbox.operator")

SYSTEM_USERS = ("postgres", "standby")
SPILO_IMAGE = "artifactory.algol60.net/csm-docker/stable/spilo:2.1-p7-14"


def secret_name(user: str, cluster: str) -> str:
    return f"{user}.{cluster}.credentials".replace("_", "-")


def _random_password() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(pysecrets.choice(alphabet) for _ in range(64))


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def cluster_users(spec: dict) -> list[str]:
    return [*SYSTEM_USERS, *sorted((spec.get("users") or {}).keys())]


class Operator:
    def __init__(self, api: Api, state: StateDir, locks: "ClusterLocks"):
        self.api, self.state, self.locks = api, state, locks

    def run(self, stop: threading.Event) -> None:
        reconcile_forever(stop, self.reconcile_all, self.api.custom.list_cluster_custom_object,
                          CRD_GROUP, CRD_VERSION, CRD_PLURAL, log=log, name="postgresqls")

    def reconcile_all(self) -> None:
        items = self.api.custom.list_cluster_custom_object(CRD_GROUP, CRD_VERSION, CRD_PLURAL)["items"]
        live = {registry.cluster_key(i["metadata"]["namespace"], i["metadata"]["name"]): i for i in items}
        for key, entry in registry.load(self.state.clusters).items():
            if key not in live:
                self._guarded(key, self.teardown, key, entry)
        for key, cr in live.items():
            if not cr["metadata"].get("deletionTimestamp"):
                self._guarded(key, self.reconcile, key, cr)

    def _guarded(self, key: str, fn, *args) -> None:
        """One cluster's failure must not stall the others."""
        try:
            with self.locks.get(key):
                fn(*args)
        except Exception:  # noqa: BLE001
            log.exception("cluster %s", key)

    # -- one cluster ------------------------------------------------------
    def reconcile(self, key: str, cr: dict) -> None:
        entry = registry.load(self.state.clusters).get(key)
        if entry and entry["uid"] != cr["metadata"]["uid"]:
            # Deleted and re-created between two looks: the old one goes first.
            self.teardown(key, entry, keep_secrets_since=cr["metadata"]["creationTimestamp"])
            entry = None
        if entry is None:
            self.create(key, cr)
        else:
            self.sync(cr, entry)

    def create(self, key: str, cr: dict) -> None:
        ns, name, spec = cr["metadata"]["namespace"], cr["metadata"]["name"], cr["spec"]
        log.info("creating cluster %s", key)
        self._set_status(ns, name, "Creating")
        server = PgServer(self.state.pg / f"{ns}.{name}", free_port())
        server.wipe()
        server.init()
        server.start()
        passwords = self._ensure_secrets(ns, name, spec)
        self._bootstrap(server, spec, passwords)
        registry.save_entry(self.state.clusters, key, {
            "uid": cr["metadata"]["uid"], "namespace": ns, "name": name,
            "port": server.port, "datadir": str(server.datadir),
        })
        self._ensure_statefulset(ns, name, spec)

    def _bootstrap(self, server: PgServer, spec: dict, passwords: dict[str, str]) -> None:
        sql = [f"ALTER ROLE postgres WITH PASSWORD {_quote_literal(passwords['postgres'])};",
               f"CREATE ROLE standby WITH REPLICATION LOGIN PASSWORD {_quote_literal(passwords['standby'])};",
               "CREATE ROLE admin WITH CREATEDB CREATEROLE NOLOGIN;"]
        for user, flags in sorted((spec.get("users") or {}).items()):
            extra = " ".join(f.upper() for f in (flags or []))
            sql.append(f"CREATE ROLE {_quote_ident(user)} WITH LOGIN {extra} "
                       f"PASSWORD {_quote_literal(passwords[user])};")
        server.psql("\n".join(sql))
        for db, owner in sorted((spec.get("databases") or {}).items()):
            server.psql(f"CREATE DATABASE {_quote_ident(db)} OWNER {_quote_ident(owner)};")

    def sync(self, cr: dict, entry: dict) -> None:
        ns, name, spec = cr["metadata"]["namespace"], cr["metadata"]["name"], cr["spec"]
        server = PgServer(Path(entry["datadir"]), entry["port"])
        if not server.running() and not self.locks.restarting(registry.cluster_key(ns, name)):
            server.start()
        wanted = int(spec.get("numberOfInstances", 1))
        sts = self._ensure_statefulset(ns, name, spec)
        current = (cr.get("status") or {}).get("PostgresClusterStatus")
        if sts.spec.replicas != wanted:
            self.api.apps.patch_namespaced_stateful_set_scale(name, ns, {"spec": {"replicas": wanted}})
            self._set_status(ns, name, "Updating")
            return
        ready = self._ready_pods(ns, name)
        if ready < wanted:
            status = "Creating" if current in (None, "Creating") else "Updating"
        elif self._postgres_secret_opens(ns, name, server.port):
            status = "Running"
        else:
            status = "SyncFailed"
        if status != current:
            self._set_status(ns, name, status)

    def _postgres_secret_opens(self, ns: str, name: str, port: int) -> bool:
        try:
            sec = self.api.core.read_namespaced_secret(secret_name("postgres", name), ns)
        except client.ApiException:
            return False
        data = sec.data or {}
        user = base64.b64decode(data.get("username", "")).decode()
        password = base64.b64decode(data.get("password", "")).decode()
        return can_login(port, user, password, "postgres")

    def _ready_pods(self, ns: str, name: str) -> int:
        pods = self.api.core.list_namespaced_pod(
            ns, label_selector=f"application=spilo,cluster-name={name}"
        ).items
        return sum(
            1 for p in pods
            if not p.metadata.deletion_timestamp
            and any(c.type == "Ready" and c.status == "True" for c in (p.status.conditions or []))
        )

    # -- secrets ----------------------------------------------------------
    def _ensure_secrets(self, ns: str, cluster: str, spec: dict) -> dict[str, str]:
        passwords = {}
        for user in cluster_users(spec):
            sname = secret_name(user, cluster)
            try:
                existing = self.api.core.read_namespaced_secret(sname, ns)
                passwords[user] = base64.b64decode(existing.data["password"]).decode()
                continue
            except client.ApiException as e:
                if not is_not_found(e):
                    raise
            passwords[user] = _random_password()
            self.api.core.create_namespaced_secret(ns, client.V1Secret(
                metadata=client.V1ObjectMeta(name=sname, labels={
                    "application": "spilo", "cluster-name": cluster, "team": spec.get("teamId", ""),
                }),
                type="Opaque",
                string_data={"username": user, "password": passwords[user]},
            ))
        return passwords

    # -- statefulset ------------------------------------------------------
    def _ensure_statefulset(self, ns: str, name: str, spec: dict) -> client.V1StatefulSet:
        try:
            return self.api.apps.read_namespaced_stateful_set(name, ns)
        except client.ApiException as e:
            if not is_not_found(e):
                raise
        labels = {"application": "spilo", "cluster-name": name, "team": spec.get("teamId", "")}
        env = [
            client.V1EnvVar(name=var, value_from=client.V1EnvVarSource(
                secret_key_ref=client.V1SecretKeySelector(name=secret_name(user, name), key="password")))
            for var, user in (("PGPASSWORD_SUPERUSER", "postgres"), ("PGPASSWORD_STANDBY", "standby"))
        ]
        sts = client.V1StatefulSet(
            metadata=client.V1ObjectMeta(name=name, labels=labels),
            spec=client.V1StatefulSetSpec(
                replicas=int(spec.get("numberOfInstances", 1)),
                service_name=name,
                selector=client.V1LabelSelector(match_labels={"application": "spilo", "cluster-name": name}),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels),
                    spec=client.V1PodSpec(
                        termination_grace_period_seconds=300,  # the operator's default (5m)
                        containers=[client.V1Container(name="postgres", image=SPILO_IMAGE, env=env)],
                    ),
                ),
            ),
        )
        try:
            return self.api.apps.create_namespaced_stateful_set(ns, sts)
        except client.ApiException as e:
            if is_conflict(e):  # the old one is still being removed; next pass
                return self.api.apps.read_namespaced_stateful_set(name, ns)
            raise

    # -- delete -----------------------------------------------------------
    def teardown(self, key: str, entry: dict, keep_secrets_since: str | None = None) -> None:
        ns, name = entry["namespace"], entry["name"]
        log.info("deleting cluster %s and its data", key)
        registry.save_entry(self.state.clusters, key, None)
        PgServer(Path(entry["datadir"]), entry["port"]).wipe()
        try:
            self.api.apps.delete_namespaced_stateful_set(
                name, ns, body=client.V1DeleteOptions(propagation_policy="Background"))
        except client.ApiException as e:
            if not is_not_found(e):
                raise
        self.api.core.delete_collection_namespaced_pod(
            ns, label_selector=f"application=spilo,cluster-name={name}", grace_period_seconds=0)
        since = _parse_time(keep_secrets_since) if keep_secrets_since else None
        for sec in self.api.core.list_namespaced_secret(
                ns, label_selector=f"application=spilo,cluster-name={name}").items:
            if since and sec.metadata.creation_timestamp >= since:
                continue  # made for the new cluster (e.g. a manifest applied before the create)
            try:
                self.api.core.delete_namespaced_secret(sec.metadata.name, ns)
            except client.ApiException as e:
                if not is_not_found(e):
                    raise

    def _set_status(self, ns: str, name: str, status: str) -> None:
        try:
            self.api.custom.patch_namespaced_custom_object_status(
                CRD_GROUP, CRD_VERSION, ns, CRD_PLURAL, name,
                {"status": {"PostgresClusterStatus": status}})
        except client.ApiException as e:
            if not is_not_found(e):
                raise


class ClusterLocks:
    """Serialises operator and node agent work on one cluster (same process)."""

    def __init__(self):
        self._locks: dict[str, threading.RLock] = {}
        self._restarting: set[str] = set()
        self._guard = threading.Lock()

    def get(self, key: str) -> threading.RLock:
        with self._guard:
            return self._locks.setdefault(key, threading.RLock())

    def restarting(self, key: str) -> bool:
        return key in self._restarting

    def mark_restarting(self, key: str, on: bool) -> None:
        (self._restarting.add if on else self._restarting.discard)(key)


def _parse_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)

