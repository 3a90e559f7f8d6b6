"""A client's data volume restored with the database (VCS's Gitea volume), on the fakes: Keycloak
given a data_volume as a site file could, so the real planner and engine run it. The volume backup
goes in after the client is back; a failure after it puts the safety tar back; a kill in the middle
of the extraction resumes to the same end."""

from __future__ import annotations

import dataclasses
import io
import tarfile

import pytest

from pgrestore.contract.model import DataVolume
from pgrestore.core import services
from pgrestore.errors import ApplyFailedRolledBack, KubernetesError
from pgrestore.planner.options import PlanOptions
from tests.fakes.rehearsal import Rehearsal
from tests.fakes.stage import Crash

VOLUME = ("services", "cray-keycloak")
LIVE = {"opt/keycloak/data/h2/keycloak.mv.db": b"live db file", "opt/keycloak/data/themes/a.css": b"live theme",
        "opt/keycloak/data/only-live.txt": b"made after the backup"}
BACKED_UP = {"opt/keycloak/data/h2/keycloak.mv.db": b"backed-up db file" * 200_000,  # 3.4 MB: several reads
             "opt/keycloak/data/themes/a.css": b"backed-up theme" * 500}


def _tar(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, body in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return out.getvalue()


@pytest.fixture
def rehearsal(tmp_path, monkeypatch) -> Rehearsal:
    service = dataclasses.replace(services.load("keycloak"), data_volume=DataVolume("keycloak", "/opt/keycloak/data"))
    r = Rehearsal.keycloak(tmp_path, monkeypatch, service=service)
    r.kube.volumes[VOLUME] = dict(LIVE)
    return r


@pytest.fixture
def plan(rehearsal, tmp_path):
    archive = tmp_path / "volume.tar"
    archive.write_bytes(_tar(BACKED_UP))
    return rehearsal.plan(PlanOptions(volume_backup=archive))


def test_the_volume_backup_goes_in_after_the_client_is_back_and_the_client_restarts(rehearsal, plan):
    kinds = [s.kind for s in rehearsal.loaded(plan).steps]
    assert kinds.index("safety-volume") < kinds.index("scale-workload")
    back = [i for i, k in enumerate(kinds) if k == "scale-workload"][1]
    assert kinds[back + 1:back + 3] == ["restore-volume", "rollout-restart"]
    rehearsal.apply(plan)
    assert rehearsal.kube.volumes[VOLUME] == {**LIVE, **BACKED_UP}, "backed-up files back; extracting deletes none"
    observed = rehearsal.journal(plan)["steps"][rehearsal.step(plan, "safety-volume")]["observed"]
    assert observed["bytes"] > 0 and len(observed["sha256"]) == 64


def test_a_failure_after_the_volume_went_in_puts_the_safety_tar_back(rehearsal, plan):
    """The restart that makes Gitea read its restored volume is the last step before the restore is
    kept: if it fails, both halves go back."""
    rehearsal.stage.inject("rollout_restart", step=rehearsal.step(plan, "rollout-restart"),
                           error=KubernetesError("forbidden"))
    with pytest.raises(ApplyFailedRolledBack, match="data included"):
        rehearsal.apply(plan)
    assert rehearsal.kube.volumes[VOLUME] == LIVE, "the volume as it was before apply"
    rollback = rehearsal.journal(plan)["rollback"]
    assert rollback[rehearsal.step(plan, "restore-volume", rollback=True)]["observed"]["restored"] is True


def test_a_failure_before_the_volume_went_in_leaves_it_alone(rehearsal, plan):
    rehearsal.stage.inject("put_secret", step=rehearsal.step(plan, "secrets-from-manifest"),
                           error=KubernetesError("forbidden"))
    with pytest.raises(ApplyFailedRolledBack):
        rehearsal.apply(plan)
    assert rehearsal.kube.volumes[VOLUME] == LIVE
    rollback = rehearsal.journal(plan)["rollback"]
    assert rollback[rehearsal.step(plan, "restore-volume", rollback=True)]["observed"] == {"restored": False}


def test_a_kill_mid_extraction_resumes_to_the_same_end(rehearsal, plan):
    rehearsal.stage.inject("exec", step=rehearsal.step(plan, "restore-volume"), crash=True, at_byte=1_500_000)
    with pytest.raises(Crash):
        rehearsal.apply(plan)
    rehearsal.crashed()
    assert rehearsal.kube.volumes[VOLUME] != {**LIVE, **BACKED_UP}, "killed half-way"
    rehearsal.apply(plan, resume=True)
    assert rehearsal.kube.volumes[VOLUME] == {**LIVE, **BACKED_UP}


def test_a_changed_volume_backup_is_refused_before_anything_is_extracted(rehearsal, plan, tmp_path):
    (tmp_path / "volume.tar").write_bytes(_tar({"opt/keycloak/data/evil": b"x"}))
    with pytest.raises(ApplyFailedRolledBack, match="changed since it was planned"):
        rehearsal.apply(plan)
    assert "opt/keycloak/data/evil" not in rehearsal.kube.volumes[VOLUME]
