"""Apply streams a large database in bounded memory: backup read and checked, pinned, the safety dump
taken out of the leader into S3, the dump restored into the new leader, all with apply's peak RSS
under a constant, whatever the database's size (issue 16: 770 MiB for a 425 MB database)."""

from __future__ import annotations

from pgrestore_sandbox import s3 as sandbox_s3
from pgrestore_sandbox.drills import grow
from pgrestore_sandbox.peak import run_with_peak

from .conftest import make_backup, server, wait_healthy

GROW_MB = 220  # a pg_dumpall of >= 200 MB: well past anything a fixed buffer of the adapters holds
PEAK_RSS_MIB = 150  # issue 16's bound; about 120 MiB of it is the process with its libraries
BUCKET = "postgres-backup"


def _peak_rss_mib(cli, *args: str) -> tuple[int, float, str]:
    """Run the CLI as a child process: (exit code, its own peak RSS in MiB (sandbox/peak.py), stderr)."""
    rc, peak, err = run_with_peak(list(args), cli.env)
    cli.outputs.append(err)
    return rc, peak, err


def _remove_objects(sandbox, keys: list[str]) -> None:
    """The large backup and what the plan wrote (pinned copy, safety dump): later tests plan from the
    newest backup and must not stream hundreds of MB."""
    s3 = sandbox_s3.client(sandbox.s3_endpoint)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="pgrestore/keycloak/"):
        keys += [o["Key"] for o in page.get("Contents", [])]
    for key in keys:
        s3.delete_object(Bucket=BUCKET, Key=key)


def test_apply_of_a_large_database_stays_in_bounded_memory(sandbox, cli, tmp_path):
    wait_healthy(sandbox)
    written: list[str] = []
    try:
        grow(sandbox.state, "keycloak", GROW_MB)
        key = make_backup(sandbox, "psql")
        written += [key, key.replace(".psql", ".manifest")]
        plan = tmp_path / "plan.json"
        res = cli("plan", "keycloak", "--backup", key, "-o", str(plan))
        assert res.returncode == 0, res.stderr
        rc, peak, err = _peak_rss_mib(cli, "apply", str(plan), "--auto-approve")
        assert rc == 0, err[-2000:]
        rows = server(sandbox).psql("SELECT count(*) FROM bulk_history", db="service_db").strip()
        assert int(rows) >= GROW_MB * 1000, "the grown table must be restored whole"
        assert peak < PEAK_RSS_MIB, (f"apply's peak RSS was {peak:.0f} MiB for a {GROW_MB} MB database "
                                     f"(bound: {PEAK_RSS_MIB} MiB)")
    finally:
        # As other tests need keycloak: its normal size, and no large backup as the newest.
        wait_healthy(sandbox)
        server(sandbox).psql("DROP TABLE IF EXISTS bulk_history", db="service_db")
        _remove_objects(sandbox, written)
