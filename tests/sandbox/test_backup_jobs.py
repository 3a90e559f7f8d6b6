"""CSM's backup CronJobs in the sandbox: as the charts define them, run by hand, failing and retried;
the operator's logical-backup CronJob; S3 refusing wrong keys as Ceph RGW does."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone

import pytest
import yaml
from botocore.exceptions import ClientError
from kubernetes import client
from typer.testing import CliRunner

from pgrestore_sandbox import cronjobs, registry, s3
from pgrestore_sandbox.backup import backup
from pgrestore_sandbox.cli import app
from pgrestore_sandbox.kube import CRD_GROUP, CRD_PLURAL, CRD_VERSION
from pgrestore_sandbox.services import load_services
from tests.helpers import secret_password, wait_until
from tests.sandbox.support import cluster_status

NS = "services"
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d"


def _drill(sandbox, *args: str):
    result = CliRunner().invoke(app, ["backup-job", *args, "--state-dir", str(sandbox.state.root)])
    return result.exit_code, result.output


def _keys(sandbox, prefix: str) -> set[str]:
    listed = s3.client(sandbox.s3_endpoint).list_objects_v2(Bucket=s3.BUCKET, Prefix=prefix)
    return {o["Key"] for o in listed.get("Contents", [])}


def _env(cronjob: dict) -> dict[str, dict]:
    container, = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e for e in container["env"]}


def _job_pods(sandbox, ns: str, job: str) -> list[client.V1Pod]:
    return sandbox.api.core.list_namespaced_pod(ns, label_selector=f"job-name={job}").items


def _delete_job(sandbox, ns: str, job: str) -> None:
    sandbox.api.batch.delete_namespaced_job(job, ns, body=client.V1DeleteOptions(propagation_policy="Background"))


def _next_second() -> None:
    """Two backups in the same second share a key; start the next one in a new second."""
    time.sleep(1.05 - datetime.now(timezone.utc).microsecond / 1e6)


def test_the_backup_cronjobs_are_the_charts(sandbox):
    services = load_services()
    for svc in services.values():
        cj = cronjobs.get(sandbox.api, svc.namespace, svc.backup.name)
        assert cj is not None, svc.backup.name
        assert cj["apiVersion"] == "batch/v1beta1"
        assert cj["metadata"]["labels"] == {
            "helm.sh/base-chart": "cray-service-8.1.1", "helm.sh/chart": svc.backup.chart,
            "app.kubernetes.io/instance": svc.backup.release, "app.kubernetes.io/managed-by": "Helm"}
        spec = cj["spec"]
        assert spec["schedule"] == svc.backup.schedule
        assert (spec["concurrencyPolicy"], spec["suspend"]) == ("Allow", False)  # the API's defaults
        assert "backoffLimit" not in spec["jobTemplate"]["spec"], "the Job's default (6) applies"
        pod = spec["jobTemplate"]["spec"]["template"]
        assert pod["metadata"]["annotations"] == {"sidecar.istio.io/inject": "false"}
        assert (pod["spec"]["restartPolicy"], pod["spec"]["serviceAccountName"]) == ("Never", svc.backup.name)
        env = _env(cj)
        assert env["DB_NAME"]["value"] == env["PGHOST"]["value"] == svc.cluster
        assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": f"postgres.{svc.cluster}.credentials", "key": "password"}
        assert env["STORAGE_ACCESS_KEY"]["valueFrom"]["secretKeyRef"] == {
            "name": "postgres-backup-s3-credentials", "key": "access_key"}
        assert not cronjobs.list_in(sandbox.api, svc.namespace, f"cluster-name={svc.cluster}"), \
            "no logical-backup CronJob while enableLogicalBackup is false"
    by_name = {s.backup.name: (s.namespace, s.cluster, s.backup.schedule) for s in services.values()}
    assert by_name["cray-smd-postgresql-db-backup"] == (NS, "cray-smd-postgres", "10 0 * * *")
    assert by_name["cray-keycloak-postgresql-db-backup"] == (NS, "keycloak-postgres", "10 2 * * *")
    assert by_name["spire-postgresql-db-backup"] == ("spire", "spire-postgres", "10 3 * * *")


def test_a_backup_job_writes_a_new_pair_and_deletes_the_older_one(sandbox):
    cluster = "cray-smd-postgres"
    older = {k for k, _ in backup(sandbox.state, "hsm", "psql")}
    _next_second()
    code, out = _drill(sandbox, "hsm")
    assert code == 0, out
    newer = _keys(sandbox, f"{cluster}-")
    assert len(newer) == 2 and not newer & older, "only the job's own pair is left"
    dump_key = next(k for k in newer if k.endswith(".psql"))
    assert re.fullmatch(rf"{cluster}-{STAMP}\.psql", dump_key)
    assert dump_key.replace(".psql", ".manifest") in newer
    for key in newer:
        assert f"written: s3://postgres-backup/{key}" in out
    for key in older:
        assert f"deleted: s3://postgres-backup/{key}" in out

    job_name = re.search(r"job services/(\S+) created from cronjob cray-smd-postgresql-db-backup", out).group(1)
    job = sandbox.api.batch.read_namespaced_job(job_name, NS)
    assert job.metadata.annotations["cronjob.kubernetes.io/instantiate"] == "manual"
    assert job.metadata.owner_references[0].kind == "CronJob" and job.spec.backoff_limit == 6
    pod, = _job_pods(sandbox, NS, job_name)
    assert pod.status.phase == "Succeeded"
    logs = sandbox.api.core.read_namespaced_pod_log(pod.metadata.name, NS, container="postgresql-backup")
    assert all(f"Deleting '{key}'" in logs for key in older)

    store = s3.client(sandbox.s3_endpoint)
    body = store.get_object(Bucket=s3.BUCKET, Key=dump_key)["Body"].read().decode()
    assert "DROP DATABASE hmsds;" in body and body.rstrip().endswith("-- PostgreSQL database cluster dump complete\n--")
    manifest = store.get_object(Bucket=s3.BUCKET, Key=dump_key.replace(".psql", ".manifest"))["Body"].read()
    assert [d["metadata"]["name"] for d in yaml.safe_load_all(manifest) if d] == [
        f"{u}.{cluster}.credentials" for u in ("hmsdsuser", "service-account", "postgres", "standby")]
    _delete_job(sandbox, NS, job_name)


def test_a_suspended_cronjob_still_runs_by_hand(sandbox):
    name = "gitea-vcs-postgresql-db-backup"
    cronjobs.set_suspend(sandbox.api, NS, name, True)
    try:
        code, out = _drill(sandbox, "vcs")
        assert code == 0, out
        assert f"from cronjob {name} (batch/v1beta1, suspend: true)" in out
        assert re.search(rf"written: s3://postgres-backup/gitea-vcs-postgres-{STAMP}\.psql", out)
        assert cronjobs.get(sandbox.api, NS, name)["spec"]["suspend"] is True
    finally:
        cronjobs.set_suspend(sandbox.api, NS, name, False)


def test_a_job_whose_password_no_longer_opens_the_database_fails_and_is_retried(sandbox, sandbox_settings):
    cluster = "capsules-dispatch-server-postgres"
    server = registry.server_for(sandbox.state.clusters, NS, cluster)
    before = _keys(sandbox, f"{cluster}-")
    sandbox_settings(resync_seconds=3600)  # no Sync meanwhile: it would log in and go SyncFailed
    server.psql("ALTER ROLE postgres PASSWORD 'not-what-the-secret-says'")
    job_name = None
    try:
        code, out = _drill(sandbox, "capsules-dispatch", "--no-wait")
        assert code == 0, out
        job_name = re.search(r"job services/(\S+) created", out).group(1)
        job = wait_until("two failed attempts", lambda: (
            j := sandbox.api.batch.read_namespaced_job(job_name, NS)).status.failed and j.status.failed >= 2 and j,
            timeout=45)
        assert not job.status.succeeded
        assert not [c for c in job.status.conditions or [] if c.type == "Failed"], "still within backoffLimit 6"
        failed = [p for p in _job_pods(sandbox, NS, job_name) if p.status.phase == "Failed"]
        assert len(failed) >= 2
        for pod in failed:
            terminated = pod.status.container_statuses[0].state.terminated
            assert terminated.exit_code == 1 and "password authentication failed" in terminated.message
        assert _keys(sandbox, f"{cluster}-") == before, "nothing uploaded, nothing deleted"
    finally:
        if job_name:
            _delete_job(sandbox, NS, job_name)
        password = secret_password(sandbox.api.core, NS, f"postgres.{cluster}.credentials")
        server.psql(f"ALTER ROLE postgres PASSWORD '{password}'")


def test_a_scheduled_run_does_nothing_while_scheduled_backups_are_off(sandbox, sandbox_settings):
    cluster, name = "cray-sls-postgres", "cray-sls-postgresql-db-backup"
    before = _keys(sandbox, f"{cluster}-")
    sandbox_settings(scheduled_backups=False)
    job = cronjobs.job_from(cronjobs.get(sandbox.api, NS, name), "cray-sls-postgresql-db-backup-29000000")
    del job["metadata"]["annotations"][cronjobs.MANUAL]  # as the cronjob controller makes it
    sandbox.api.batch.create_namespaced_job(NS, job)
    try:
        wait_until("job complete", lambda: sandbox.api.batch.read_namespaced_job(
            job["metadata"]["name"], NS).status.succeeded, timeout=30)
        assert _keys(sandbox, f"{cluster}-") == before
    finally:
        _delete_job(sandbox, NS, job["metadata"]["name"])


def test_s3_refuses_a_wrong_access_key_or_secret_key_with_403(sandbox):
    secret = sandbox.api.core.read_namespaced_secret("postgres-backup-s3-credentials", NS)
    assert secret.data.keys() >= {"access_key", "secret_key", "s3_endpoint", "ssl_validate"}
    right = s3.client(sandbox.s3_endpoint)  # the secret's keys
    assert right.list_objects_v2(Bucket=s3.BUCKET, MaxKeys=1)["ResponseMetadata"]["HTTPStatusCode"] == 200
    for access, secret_key, code in ((s3.ACCESS_KEY + "x", s3.SECRET_KEY, "InvalidAccessKeyId"),
                                     (s3.ACCESS_KEY, s3.SECRET_KEY + "x", "SignatureDoesNotMatch")):
        wrong = s3.client(sandbox.s3_endpoint, access, secret_key, attempts=1)
        for call, kwargs in ((wrong.list_objects_v2, {"Bucket": s3.BUCKET}),
                             (wrong.put_object, {"Bucket": s3.BUCKET, "Key": "intruder", "Body": b"x"})):
            with pytest.raises(ClientError) as refused:
                call(**kwargs)
            assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
            assert refused.value.response["Error"]["Code"] == code
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(f"{sandbox.s3_endpoint}/{s3.BUCKET}", timeout=5)
    assert anonymous.value.code == 403
    assert not _keys(sandbox, "intruder")


def test_the_operator_makes_the_logical_backup_cronjob_for_enable_logical_backup(sandbox):
    cluster, custom = "capsules-warehouse-server-postgres", sandbox.api.custom
    name = f"logical-backup-{cluster}"

    def set_spec(**spec) -> None:
        custom.patch_namespaced_custom_object(CRD_GROUP, CRD_VERSION, NS, CRD_PLURAL, cluster, {"spec": spec})

    set_spec(enableLogicalBackup=True)
    job_name = None
    try:
        cj = wait_until("the operator's CronJob", lambda: cronjobs.get(sandbox.api, NS, name), timeout=30)
        assert cj["metadata"]["labels"] == {"application": "spilo", "cluster-name": cluster,
                                            "team": "capsules-warehouse-server"}
        assert (cj["spec"]["schedule"], cj["spec"]["concurrencyPolicy"]) == ("30 00 * * *", "Forbid")
        template = cj["spec"]["jobTemplate"]["spec"]["template"]
        assert template["metadata"]["labels"] == {"application": "spilo-logical-backup", "cluster-name": cluster}
        assert _env(cj)["PGPASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == f"postgres.{cluster}.credentials"

        # A suspend set by hand survives the operator's sync of a changed schedule.
        cronjobs.set_suspend(sandbox.api, NS, name, True)
        set_spec(logicalBackupSchedule="10 2 * * *")
        wait_until("schedule synced", lambda: cronjobs.get(sandbox.api, NS, name)["spec"]["schedule"] == "10 2 * * *",
                   timeout=30)
        assert cronjobs.get(sandbox.api, NS, name)["spec"]["suspend"] is True

        code, out = _drill(sandbox, "capsules-warehouse", "--format", "logical")
        assert code == 0, out
        job_name = re.search(r"job services/(\S+) created", out).group(1)
        uid = custom.get_namespaced_custom_object(CRD_GROUP, CRD_VERSION, NS, CRD_PLURAL, cluster)["metadata"]["uid"]
        key = re.search(r"written: s3://postgres-backup/(\S+)", out).group(1)
        assert re.fullmatch(rf"spilo/{cluster}/{uid}/logical_backups/\d{{10}}\.sql\.gz", key)
        s3.client(sandbox.s3_endpoint).delete_object(Bucket=s3.BUCKET, Key=key)
    finally:
        set_spec(enableLogicalBackup=False, logicalBackupSchedule=None)
        wait_until("the CronJob deleted", lambda: cronjobs.get(sandbox.api, NS, name) is None, timeout=30)
        if job_name:  # deleted with Orphan propagation: the Job stays
            sandbox.api.batch.read_namespaced_job(job_name, NS)
            _delete_job(sandbox, NS, job_name)
        wait_until("Running again", lambda: cluster_status(sandbox.api, NS, cluster) == "Running", timeout=30)
