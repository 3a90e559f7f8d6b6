"""A volume backup (vcs.tar) is checked member by member at plan time, and apply extracts exactly
the bytes plan checked: a tar that would write outside /var/lib/gitea is refused (exit 65, one
line) before anything else, and a file swapped after the check never reaches `tar -xf`."""

from __future__ import annotations

import dataclasses
import io
import os
import tarfile
from pathlib import Path

import pytest

from pgrestore.contract.model import DataVolume
from pgrestore.core import services
from pgrestore.errors import BackupError
from pgrestore.planner.options import PlanOptions
from pgrestore.planner.read import read_volume_archive
from tests import cli_process
from tests.fakes.rehearsal import Rehearsal

ROOT = Path(__file__).resolve().parents[2]
GITEA = "/var/lib/gitea"
REPO = "var/lib/gitea/git/repositories/cray/config.git"


def _tar(*members: tuple[str, str, str | bytes]) -> bytes:
    """(type, name, body or link target): `file`, `dir`, `symlink`, `hardlink`, `chr`, `fifo`."""
    kinds = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
             "chr": tarfile.CHRTYPE, "fifo": tarfile.FIFOTYPE}
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for kind, name, value in members:
            info = tarfile.TarInfo(name)
            info.type = kinds[kind]
            if kind == "file":
                body = value if isinstance(value, bytes) else value.encode()
                info.size = len(body)
                tar.addfile(info, io.BytesIO(body))
                continue
            if kind in ("symlink", "hardlink"):
                info.linkname = str(value)
            tar.addfile(info)
    return out.getvalue()


# A backup's links and folders that stay inside the volume: each bad case below has them first, so the
# refusal must name the bad member and nothing else.
INSIDE = (("dir", "var/lib/gitea", ""), ("file", f"{REPO}/config", "[core]\n"),
          ("symlink", f"{REPO}/HEAD.link", "config"), ("symlink", "var/lib/gitea/abs", f"{GITEA}/git"),
          ("hardlink", f"{REPO}/config.hard", f"{REPO}/config"), ("file", "./var/lib/gitea/dotted", "x"))


def _bad(*members: tuple[str, str, str | bytes]) -> bytes:
    return _tar(*INSIDE, *members)


BAD = {
    "dot-dot": (_bad(("file", "../x", "x")), "member '../x' climbs out with '..'"),
    "dot-dot-inside": (_bad(("file", "var/lib/gitea/../../../etc/passwd", "root::0:0")),
                       "member 'var/lib/gitea/../../../etc/passwd' climbs out with '..'"),
    "absolute": (_bad(("file", "/etc/passwd", "root::0:0")), "member '/etc/passwd' is an absolute path"),
    "absolute-inside": (_bad(("file", f"{GITEA}/x", "x")), f"member '{GITEA}/x' is an absolute path"),
    "symlink-out": (_bad(("symlink", "var/lib/gitea/etc", "/etc")),
                    "symlink 'var/lib/gitea/etc' points to '/etc', outside /var/lib/gitea"),
    "symlink-relative-out": (_bad(("symlink", "var/lib/gitea/up", "../../../root")),
                             "symlink 'var/lib/gitea/up' points to '../../../root', through '..'"),
    "symlink-then-write-through": (_bad(("symlink", "var/lib/gitea/l", "/root/.ssh"),
                                        ("file", "var/lib/gitea/l/authorized_keys", "ssh-ed25519 AAAA")),
                                   "symlink 'var/lib/gitea/l' points to '/root/.ssh', outside /var/lib/gitea"),
    "hardlink-out": (_bad(("hardlink", "var/lib/gitea/shadow", "etc/shadow")),
                     "hard link 'var/lib/gitea/shadow' links to 'etc/shadow', outside /var/lib/gitea"),
    "device": (_bad(("chr", "var/lib/gitea/mem", "")), "member 'var/lib/gitea/mem' is a device file or fifo"),
    "fifo": (_bad(("fifo", "var/lib/gitea/pipe", "")), "member 'var/lib/gitea/pipe' is a device file or fifo"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_member_that_would_land_outside_the_volume_is_refused(tmp_path, case):
    data, words = BAD[case]
    path = tmp_path / "vcs.tar"
    path.write_bytes(data)
    with pytest.raises(BackupError) as e:
        read_volume_archive(path, GITEA)
    assert str(e.value) == f"volume backup {path} is not a backup of {GITEA}: {words}; choose another backup"


@pytest.mark.parametrize("case", ["dot-dot", "absolute", "symlink-out"])
def test_plan_refuses_it_in_one_line_with_exit_65_before_asking_the_cluster(tmp_path, case):
    data, words = BAD[case]
    (tmp_path / "vcs.tar").write_bytes(data)
    home = cli_process.fresh_home()
    env = {"PATH": os.environ["PATH"], "HOME": home, "PYTHONPATH": str(ROOT), "KUBECONFIG": "/nonexistent"}
    res = cli_process.run(["plan", "vcs", "--pvc-backup", str(tmp_path / "vcs.tar")], env=env, cwd=ROOT, timeout=60)
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.returncode == 65 and len(lines) == 1, res.stderr
    assert words in lines[0] and "Traceback" not in res.stderr


# -- apply extracts the bytes plan checked ------------------------------------------------------------------

VOLUME = ("services", "cray-keycloak")
BACKED_UP = {"opt/keycloak/data/h2/keycloak.mv.db": b"backed-up db file" * 100_000}
SWAPPED_IN = {"opt/keycloak/data/h2/keycloak.mv.db": b"not what was planned",
              "opt/keycloak/data/planted": b"never checked"}


def _plain_tar(files: dict[str, bytes]) -> bytes:
    return _tar(*(("file", name, body) for name, body in files.items()))


def test_a_volume_backup_swapped_after_the_check_is_not_what_gets_extracted(tmp_path, monkeypatch):
    """The archive is swapped the moment apply opens the `tar -xf` stream (after the step's own
    check): what lands must still be the bytes the plan and the step checked."""
    service = dataclasses.replace(services.load("keycloak"), data_volume=DataVolume("keycloak", "/opt/keycloak/data"))
    rehearsal = Rehearsal.keycloak(tmp_path, monkeypatch, service=service)
    archive = tmp_path / "volume.tar"
    archive.write_bytes(_plain_tar(BACKED_UP))
    plan = rehearsal.plan(PlanOptions(volume_backup=archive))

    def swap_when_tar_starts(call) -> bool:
        if call.args.get("argv") == ["tar", "-C", "/", "-xf", "-"]:
            archive.write_bytes(_plain_tar(SWAPPED_IN))
        return False  # a hook, not a fault: nothing fails

    rehearsal.stage.inject("exec", step=rehearsal.step(plan, "restore-volume"), where=swap_when_tar_starts,
                           error=AssertionError("never fires"), times=None)
    rehearsal.apply(plan)
    assert archive.read_bytes() == _plain_tar(SWAPPED_IN), "the swap happened"
    assert rehearsal.kube.volumes[VOLUME] == BACKED_UP, "bytes nobody checked were extracted"
