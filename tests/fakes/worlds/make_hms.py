"""Writes the HMS world (hms.json) and the HSM and SLS fixture backups beside it.

    .venv/bin/python -m tests.fakes.worlds.make_hms

The objects are shaped as the sandbox seeds them (sandbox/csm_services.yaml: hsm and sls, which
follow csm-procedures.md §1) and as `kubectl get -o json` prints them; the tables as
sandbox/data/hsm.sql and sls.sql make them, fewer rows. The dumps are what the fake database's
pg_dumpall -c writes (tests/fakes/fake_db.py), its roles' verifiers those of the manifest's
passwords, as a CSM backup job leaves them. Deterministic: the same bytes every run.
"""

from __future__ import annotations

import base64
import json
import random
import string
from pathlib import Path

from pgrestore.core.manifest import render_manifest
from tests.fakes.fake_db import FakeDatabase

HERE = Path(__file__).parent
NS = "services"
RNG = random.Random(20240430)


def _password() -> str:
    return "".join(RNG.choice(string.ascii_letters + string.digits) for _ in range(64))


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _uid(n: int, tag: str) -> str:
    return f"{tag}-0000-4000-8000-{n:012d}"


def secret_name(user: str, cluster: str) -> str:
    return f"{user}.{cluster}.credentials".replace("_", "-")


SERVICES = {
    "hsm": {"cluster": "cray-smd-postgres", "team": "cray-smd", "client": "cray-smd", "release": "cray-hms-smd",
            "job": "cray-smd-init", "cronjob": "cray-smd-postgresql-db-backup", "schedule": "10 0 * * *",
            "users": ["hmsdsuser", "service_account"],
            "databases": {"hmsds": "hmsdsuser", "service_db": "service_account"},
            "login": ("hmsdsuser", "hmsds"), "n": 1},
    "sls": {"cluster": "cray-sls-postgres", "team": "cray-sls", "client": "cray-sls", "release": "cray-hms-sls",
            "job": "cray-sls-init-load", "cronjob": "cray-sls-postgresql-db-backup", "schedule": "10 23 * * *",
            "users": ["slsuser", "service_account"], "databases": {"sls": "slsuser", "service_db": "service_account"},
            "login": ("slsuser", "sls"), "n": 2},
}


def _hsm_tables(version: int, components: int, interfaces: int) -> dict:
    return {"hmsds": {
        "public.system": {"columns": "(id, schema_version, system_info)", "rows": [f"0\t{version}\t{{}}"]},
        "public.components": {"columns": "(id, type, state, role, nid)", "rows": [
            f"x3000c0s{i}b0n0\tNode\tReady\t{'Management' if i <= 3 else 'Compute'}\t{i}"
            for i in range(1, components + 1)]},
        "public.comp_eth_interfaces": {"columns": "(id, description, macaddr, compid)", "rows": [
            f"{i:012x}\tEthernet Interface\t{i:012x}\tx3000c0s{i}b0n0" for i in range(1, interfaces + 1)]},
        "public.rf_endpoints": {"columns": "(id, type, last_discovery_status)", "rows": [
            f"x3000c0s{i}b0\tNodeBMC\tDiscoverOK" for i in range(1, 11)]},
    }}


def _sls_tables(version: int, hardware: int, networks: bool) -> dict:
    tables = {
        "public.schema_migrations": {"columns": "(version, dirty)", "rows": [f"{version}\tf"]},
        "public.generic_hardware": {"columns": "(xname, parent, comp_type, comp_class)", "rows": [
            f"x3000c0s{i}b0n0\tx3000c0s{i}b0\tcomptype_node\tRiver" for i in range(1, hardware + 1)]},
    }
    if networks:
        tables["public.network"] = {"columns": "(name, full_name, type)", "rows": [
            "CAN\tCustomer Access Network\tethernet", "HMN\tHardware Management Network\tethernet",
            "HSN\tHigh Speed Network\tslingshot10", "MTL\tProvisioning Network (untagged)\tethernet",
            "NMN\tNode Management Network\tethernet"]}
    return {"sls": tables}


def objects(name: str, s: dict, passwords: dict[str, str]) -> list[dict]:
    n, cluster, ns = s["n"], s["cluster"], NS
    labels = {"app.kubernetes.io/name": s["client"], "app.kubernetes.io/instance": s["release"]}
    helm = {"meta.helm.sh/release-name": s["release"], "meta.helm.sh/release-namespace": ns}
    out: list[dict] = [{
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": s["client"], "namespace": ns, "uid": _uid(n * 100 + 1, "d0c0ffee"),
                     "resourceVersion": f"5100{n}001", "creationTimestamp": "2023-11-02T14:30:00Z",
                     "labels": {**labels, "app.kubernetes.io/managed-by": "Helm"}, "annotations": helm,
                     "generation": 2},
        "spec": {"replicas": 3, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": s["client"]}, {"name": "istio-proxy"}]}}},
        "status": {"replicas": 3, "readyReplicas": 3, "availableReplicas": 3, "updatedReplicas": 3,
                   "observedGeneration": 2},
    }, {
        "apiVersion": "acid.zalan.do/v1", "kind": "postgresql",
        "metadata": {"name": cluster, "namespace": ns, "uid": _uid(n * 100 + 2, "5e5e5e5e"),
                     "resourceVersion": f"5100{n}002", "creationTimestamp": "2023-11-02T14:29:55Z",
                     "labels": {"app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/instance": s["release"]},
                     "annotations": helm, "generation": 2},
        "spec": {"teamId": s["team"], "numberOfInstances": 3, "postgresql": {"version": "14"},
                 "volume": {"size": "30Gi"}, "users": {u: [] for u in s["users"]}, "databases": s["databases"],
                 "podAnnotations": {"sidecar.istio.io/inject": "false"}, "enableLogicalBackup": False},
        "status": {"PostgresClusterStatus": "Running"},
    }]
    for i, user in enumerate(["postgres", "standby", *s["users"]]):
        out.append({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                    "metadata": {"name": secret_name(user, cluster), "namespace": ns,
                                 "uid": _uid(n * 100 + 10 + i, "5ec5ec00"), "resourceVersion": f"5100{n}01{i}",
                                 "creationTimestamp": "2023-11-02T14:29:56Z",
                                 "labels": {"application": "spilo", "cluster-name": cluster, "team": s["team"]}},
                    "data": {"username": _b64(user), "password": _b64(passwords[user])}})
    job_labels = {"app.kubernetes.io/name": s["job"], "app.kubernetes.io/instance": s["release"]}
    job_uid = _uid(n * 100 + 20, "70b70b00")
    out.append({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": s["job"], "namespace": ns, "uid": job_uid, "resourceVersion": f"5100{n}020",
                     "creationTimestamp": "2023-11-02T14:31:00Z",
                     "labels": {**job_labels, "app.kubernetes.io/managed-by": "Helm"}, "annotations": helm,
                     "generation": 1},
        "spec": {"backoffLimit": 6, "completions": 1, "parallelism": 1,
                 "selector": {"matchLabels": {"controller-uid": job_uid}},
                 "template": {"metadata": {"labels": {**job_labels, "controller-uid": job_uid, "job-name": s["job"]}},
                              "spec": {"containers": [{"name": s["job"]}], "restartPolicy": "OnFailure"}}},
        "status": {"succeeded": 1, "startTime": "2023-11-02T14:31:00Z", "completionTime": "2023-11-02T14:31:40Z",
                   "conditions": [{"type": "Complete", "status": "True"}]},
    })
    out.append({
        "apiVersion": "batch/v1beta1", "kind": "CronJob",
        "metadata": {"name": s["cronjob"], "namespace": ns, "uid": _uid(n * 100 + 30, "c20c2000"),
                     "resourceVersion": f"5100{n}030", "creationTimestamp": "2023-11-02T14:30:01Z",
                     "labels": {"app.kubernetes.io/instance": s["release"], "app.kubernetes.io/managed-by": "Helm"},
                     "annotations": helm, "generation": 1},
        "spec": {"schedule": s["schedule"], "concurrencyPolicy": "Forbid", "suspend": False,
                 "jobTemplate": {"spec": {"template": {
                     "metadata": {"annotations": {"sidecar.istio.io/inject": "false"}},
                     "spec": {"restartPolicy": "Never", "containers": [{
                         "name": "postgresql-backup", "env": [{"name": "DB_NAME", "value": cluster},
                                                              {"name": "NAMESPACE", "value": ns}]}]}}}}},
    })
    return out


def backup(s: dict, passwords: dict[str, str], tables: dict, stem: str) -> None:
    db = FakeDatabase.bootstrap("backup", passwords, s["databases"])
    for database, ts in tables.items():
        db.seed(database, ts)
    (HERE / f"{stem}.pg_dumpall.sql").write_text(db.dump(clean=True))
    secrets = [{"type": "Opaque", "metadata": {"name": secret_name(u, s["cluster"]), "namespace": NS,
                                               "labels": {"application": "spilo", "cluster-name": s["cluster"],
                                                          "team": s["team"]}},
                "data": {"username": _b64(u), "password": _b64(passwords[u])}} for u in sorted(passwords)]
    (HERE / f"{stem}.manifest.yaml").write_text(render_manifest(secrets))


def main() -> None:
    world: dict = {
        "description": "CSM services namespace with HSM (cray-smd-postgres: 6 of 10 components deleted) and SLS "
                       "(cray-sls-postgres: table network dropped, 4 of 12 hardware rows gone); built by "
                       "tests/fakes/worlds/make_hms.py",
        "cluster": {"server": "https://10.252.120.2:6442", "kube_system_uid": "e2b1f6a8-4c0d-4d3e-9f1a-7b6c5d4e3f21",
                    "kubernetes_version": "1.20.2"},
        "objects": [], "databases": {}, "logins": []}
    live = {"hsm": _hsm_tables(21, 4, 6), "sls": _sls_tables(3, 8, networks=False)}
    for name, s in SERVICES.items():
        users = ["postgres", "standby", *s["users"]]
        live_passwords = {u: _password() for u in users}
        backup_passwords = {u: _password() for u in users}
        world["objects"] += objects(name, s, live_passwords)
        world["databases"][f"{NS}/{s['cluster']}"] = {"tables": live[name]}
        user, database = s["login"]
        for selector in (f"app.kubernetes.io/name={s['client']}", f"app.kubernetes.io/name={s['job']}"):
            world["logins"].append({"namespace": NS, "selector": selector, "secret": secret_name(user, s["cluster"]),
                                    "cluster": s["cluster"], "database": database})
        if name == "hsm":
            backup(s, backup_passwords, _hsm_tables(21, 10, 10), "hsm-2024-04-30")
            backup(s, backup_passwords, _hsm_tables(20, 10, 10), "hsm-2024-05-01-schema-20")
        else:
            backup(s, backup_passwords, _sls_tables(3, 12, networks=True), "sls-2024-04-29")
    (HERE / "hms.json").write_text(json.dumps(world, indent=2) + "\n")


if __name__ == "__main__":
    main()
