"""What plan checked of the world is checked again by apply, under its lock, before anything changes:
SLS healthy for HSM, the live schema version, the client's images. A plan made while all held, applied
after one stopped holding, is refused with nothing changed."""

from __future__ import annotations

import pytest

from pgrestore.errors import PgRestoreError
from tests.engine.test_strategies import hms, view  # noqa: F401  (hms is a fixture)

NS = "services"


def _refused_before_any_change(r, path, *words: str) -> None:
    before = view(r, "hsm")
    with pytest.raises(PgRestoreError) as err:
        r.apply(path)
    message = str(err.value)
    for word in words:
        assert word in message, message
    assert view(r, "hsm") == before, "a refused apply changed the cluster"
    steps = r.journal(path)["steps"]
    check = r.step(path, "check-prerequisites")
    assert steps[check]["status"] == "failed"
    assert [s for s, v in steps.items() if v["status"] == "done"] == [r.step(path, "verify-backup")]


def test_hsm_is_not_restored_when_sls_became_unhealthy_after_the_plan(hms):  # noqa: F811
    r = hms("hsm")
    path = r.plan()  # SLS healthy now
    r.kube.scale("Deployment", NS, "cray-sls", 0)
    _refused_before_any_change(r, path, "SLS must be healthy", "cray-sls")


def test_hsm_is_not_restored_when_its_schema_changed_after_the_plan(hms):  # noqa: F811
    r = hms("hsm")
    path = r.plan()
    db = r.kube.database(NS, "cray-smd-postgres")
    db.databases["hmsds"]["public.system"].rows[:] = ["0\t22\t{}"]  # the service's upgrade migrated it
    _refused_before_any_change(r, path, "live schema is 22 now", "re-plan")


def test_hsm_is_not_restored_when_its_client_image_changed_after_the_plan(hms):  # noqa: F811
    r = hms("hsm")
    pod = r.kube.objects[("Deployment", NS, "cray-smd")]["spec"].setdefault("template", {}).setdefault("spec", {})
    pod["containers"] = [{"name": "cray-smd", "image": "artifactory/cray-smd:2.20.0"}]
    path = r.plan()
    pod["containers"][0]["image"] = "artifactory/cray-smd:9.9.9"  # upgraded meanwhile
    _refused_before_any_change(r, path, "cray-smd:9.9.9", "re-plan")


def test_a_dump_from_a_newer_postgresql_major_is_refused_at_plan(hms, workdir):  # noqa: F811
    from pgrestore.errors import BackupError
    from tests.fakes.rehearsal import SLS_DUMP, SLS_MANIFEST
    r = hms("sls")
    newer = workdir / "sls-from-16.pg_dumpall.sql"
    newer.write_bytes(SLS_DUMP.read_bytes().replace(b"-- Dumped from database version 14.5",
                                                     b"-- Dumped from database version 16.2"))
    with pytest.raises(BackupError) as err:
        r.build(dump=newer, manifest=SLS_MANIFEST)
    assert err.value.exit_code == 65
    assert "dumped from PostgreSQL 16, newer than the cluster's PostgreSQL 14" in str(err.value)
    r.build(dump=SLS_DUMP, manifest=SLS_MANIFEST)  # the same dump from 14 is planned


def _sls_status(r, status: str) -> None:
    r.kube.objects[("postgresql", NS, "cray-sls-postgres")].setdefault("status", {})["PostgresClusterStatus"] = status


def test_an_sls_status_that_the_operators_next_sync_clears_is_waited_for(hms, monkeypatch):  # noqa: F811
    """A plan set restores SLS right before HSM; the operator's Sync that raced SLS's restore is SyncFailed
    until its next one. HSM's restore waits for it instead of failing."""
    from pgrestore.executors.steps import check_prerequisites
    r = hms("hsm")
    path = r.plan()
    _sls_status(r, "SyncFailed")
    naps: list[float] = []

    def next_sync(seconds: float) -> None:  # the operator's next Sync finds nothing wrong
        naps.append(seconds)
        _sls_status(r, "Running")
    monkeypatch.setattr(check_prerequisites.time, "sleep", next_sync)
    assert r.apply(path).startswith("restored")
    assert naps == [check_prerequisites.POLL_SECONDS]


def test_an_sls_status_that_stays_failed_is_refused_after_the_wait(hms, monkeypatch):  # noqa: F811
    from pgrestore.executors.steps import check_prerequisites
    r = hms("hsm")
    path = r.plan()
    settle = r.kube.settle

    def every_sync_fails() -> None:  # the fake's operator otherwise writes Running at once
        settle()
        _sls_status(r, "SyncFailed")
    monkeypatch.setattr(r.kube, "settle", every_sync_fails)
    _sls_status(r, "SyncFailed")
    monkeypatch.setattr(check_prerequisites, "TRANSIENT_STATUS_WAIT_SECONDS", 1.2)
    monkeypatch.setattr(check_prerequisites, "POLL_SECONDS", 0.3)
    _refused_before_any_change(r, path, "SLS must be healthy", "is SyncFailed, not Running", "waiting for the operator")
