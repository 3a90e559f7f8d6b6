"""`sandbox backup` writes what CSM's jobs write, and the files restore; drills break things."""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from pgrestore_sandbox import registry, s3, seed
from pgrestore_sandbox.backup import backup
from pgrestore_sandbox.drills import break_service
from pgrestore_sandbox.kube import CRD_GROUP, CRD_PLURAL, CRD_VERSION
from pgrestore_sandbox.pgserver import PgServer, discard, pg_bin, scratch_server
from pgrestore_sandbox.services import get_service

NS, CLUSTER = "services", "cray-sls-postgres"


def _restore_into_fresh_server(dump: Path) -> PgServer:
    server = scratch_server()
    res = subprocess.run([pg_bin("psql"), "-X", "-q", "-d", "postgres", "-f", str(dump)],
                         capture_output=True, text=True, env={**os.environ, **server.env()})
    assert res.returncode == 0, res.stderr
    return server


def _download(client, key: str, dest: Path) -> Path:
    with open(dest, "wb") as f:
        client.download_fileobj(s3.BUCKET, key, f)
    return dest


def test_psql_backup_writes_a_dump_and_manifest_pair_that_restores(sandbox, tmp_path):
    client = s3.client(sandbox.s3_endpoint)
    first = backup(sandbox.state, "sls", "psql")
    second = backup(sandbox.state, "sls", "psql")
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=s3.BUCKET, Prefix=f"{CLUSTER}-")["Contents"]}
    assert keys == {k for k, _ in second}, "only the newest pair is kept"
    dump_key, manifest_key = (k for k, _ in second)
    assert re.fullmatch(rf"{CLUSTER}-\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.psql", dump_key)
    assert manifest_key == dump_key.replace(".psql", ".manifest")
    assert first[0][0] <= dump_key

    dump = _download(client, dump_key, tmp_path / "dump.psql")
    text = dump.read_text()
    assert text.startswith("--\n-- PostgreSQL database cluster dump\n")
    assert text.rstrip().endswith("-- PostgreSQL database cluster dump complete\n--")
    assert "DROP DATABASE sls;" in text and "\\restrict" not in text

    manifest = yaml.safe_load_all(client.get_object(Bucket=s3.BUCKET, Key=manifest_key)["Body"].read())
    secrets = [d for d in manifest if d]
    assert [s["metadata"]["name"] for s in secrets] == [
        f"{u}.{CLUSTER}.credentials" for u in ("slsuser", "service-account", "postgres", "standby")]
    assert all(set(s) == {"apiVersion", "kind", "type", "metadata", "data"} for s in secrets)

    live = registry.server_for(sandbox.state.clusters, NS, CLUSTER)
    fresh = _restore_into_fresh_server(dump)
    try:
        count = "SELECT count(*) FROM generic_hardware"
        assert fresh.psql(count, db="sls") == live.psql(count, db="sls")
        assert fresh.psql("SELECT version FROM schema_migrations", db="sls").strip() == "3"
    finally:
        discard(fresh)


def test_logical_backup_is_gzip_under_the_cluster_uid_and_restores(sandbox, tmp_path):
    client = s3.client(sandbox.s3_endpoint)
    [(key, size)] = backup(sandbox.state, "sls", "logical")
    uid = sandbox.api.custom.get_namespaced_custom_object(
        CRD_GROUP, CRD_VERSION, NS, CRD_PLURAL, CLUSTER)["metadata"]["uid"]
    assert re.fullmatch(rf"spilo/{CLUSTER}/{uid}/logical_backups/\d{{10}}\.sql\.gz", key)
    packed = _download(client, key, tmp_path / "dump.sql.gz")
    assert packed.stat().st_size == size
    plain = tmp_path / "dump.sql"
    with gzip.open(packed) as src, open(plain, "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert "DROP DATABASE" not in plain.read_text(), "logical backups are made without -c"
    fresh = _restore_into_fresh_server(plain)
    try:
        assert int(fresh.psql("SELECT count(*) FROM network", db="sls")) == 5
    finally:
        discard(fresh)


def test_break_drop_table_and_truncate(sandbox):
    server = registry.server_for(sandbox.state.clusters, "spire", "spire-postgres")
    exists = "SELECT count(*) FROM pg_tables WHERE tablename = 'registered_entries'"
    assert int(server.psql("SELECT count(*) FROM registered_entries", db="spire")) == 1500
    try:
        break_service(sandbox.state, "spire", "truncate")
        assert int(server.psql("SELECT count(*) FROM registered_entries", db="spire")) == 0
        break_service(sandbox.state, "spire", "drop-table")
        assert int(server.psql(exists, db="spire")) == 0
    finally:  # leave spire as seeded
        server.psql("DROP SCHEMA public CASCADE; CREATE SCHEMA public AUTHORIZATION spire;", db="spire")
        seed.load_rows(sandbox.state, get_service("spire"))
