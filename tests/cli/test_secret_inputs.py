"""Secrets that come in from the user: the S3 secret key never on the command line (the process list,
shell history and crash logs would show it), and backup_vcs.sh's credential manifest extracted only
into a private folder made for it."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

import pgrestore.cli as cli_module
from pgrestore.core.local_backup import resolve
from tests import cli_process
from tests.fakes.rehearsal import GOOD_DUMP, MANIFEST
from tests.helpers import vcs_backup_tgz

ROOT = Path(__file__).resolve().parents[2]
KEY = "s3-Secret-Key-9f8e7d"
UNREACHABLE_S3 = ["--s3-endpoint", "http://127.0.0.1:9", "--s3-access-key", "a"]


# A kubeconfig whose API server does not answer: asking the cluster for the S3 keys says so.
UNREACHABLE_API = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


def run(*args: str, env: dict | None = None) -> tuple[subprocess.CompletedProcess, Path]:
    home = Path(cli_process.fresh_home())
    (home / "kubeconfig").write_text(UNREACHABLE_API)
    base = {"PATH": os.environ["PATH"], "HOME": str(home), "PYTHONPATH": str(ROOT),
            "KUBECONFIG": str(home / "kubeconfig")}
    res = cli_process.run(list(args), env={**base, **(env or {})}, cwd=ROOT, timeout=60)
    return res, home


def one_line(res: subprocess.CompletedProcess) -> str:
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    return lines[0]


@pytest.mark.parametrize("argv", [
    ["backups", "keycloak", "--s3-secret-key", KEY],
    ["plan", "keycloak", f"--s3-secret-key={KEY}"],
    ["apply", "plan.json", "--auto-approve", "--s3-secret-key", KEY],
])
def test_a_secret_key_on_the_command_line_is_refused_saying_where_it_goes(argv):
    res, home = run(*argv)
    line = one_line(res)
    assert res.returncode == 64
    assert "--s3-secret-key would show the key in the process list" in line
    assert "PGRESTORE_S3_SECRET_KEY" in line and "--s3-secret-key-file" in line
    assert f"`pgrestore {argv[0]} --help`" in line
    assert KEY not in res.stderr + res.stdout
    assert not list(home.rglob("crash-*.log"))


def test_the_key_from_a_file_or_the_environment_is_used_without_asking_the_cluster(tmp_path):
    key_file = tmp_path / "s3.key"
    key_file.write_text(KEY + "\n")
    res, _ = run("backups", "keycloak", *UNREACHABLE_S3, "--s3-secret-key-file", str(key_file))
    assert res.returncode == 69 and "cannot reach the S3 endpoint" in one_line(res)  # the keys were complete
    assert KEY not in res.stderr + res.stdout
    res, _ = run("backups", "keycloak", *UNREACHABLE_S3, env={"PGRESTORE_S3_SECRET_KEY": KEY})
    assert res.returncode == 69 and "cannot reach the S3 endpoint" in one_line(res)
    res, _ = run("backups", "keycloak", *UNREACHABLE_S3)  # no key: the cluster's credentials secret is read
    assert res.returncode == 69 and "cannot reach the API server" in one_line(res)


@pytest.mark.parametrize("content,words", [(None, "cannot read it"), ("\n", "is empty")])
def test_an_unreadable_or_empty_key_file_is_a_usage_error(tmp_path, content, words):
    key_file = tmp_path / "s3.key"
    if content is not None:
        key_file.write_text(content)
    res, _ = run("backups", "keycloak", *UNREACHABLE_S3, "--s3-secret-key-file", str(key_file))
    line = one_line(res)
    assert res.returncode == 64 and f"--s3-secret-key-file {key_file}" in line and words in line


def test_a_crash_log_never_holds_the_key(tmp_path, monkeypatch, capsys):
    key_file = tmp_path / "s3.key"
    key_file.write_text(KEY)

    @cli_module.app.command("explode-with-key", hidden=True)
    def explode(s3_secret_key_file: Path = cli_module.S3SecretFileOpt) -> None:
        connection = cli_module._connection(None, None, secret_file=s3_secret_key_file)
        raise RuntimeError(f"a library echoing its input: {connection.s3.secret_key}")

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    try:
        code = cli_module.main(["explode-with-key", "--s3-secret-key-file", str(key_file)])
    finally:
        cli_module.app.registered_commands.pop()
    assert code == 70 and KEY not in capsys.readouterr().err
    logs = list((tmp_path / "pgrestore").glob("crash-*.log"))
    assert len(logs) == 1 and "a library echoing its input: ***" in logs[0].read_text()
    assert KEY not in logs[0].read_text()
    assert stat.S_IMODE(logs[0].stat().st_mode) == 0o600


# -- backup_vcs.sh's .tgz: the manifest holds every credential ----------------------------------------------

def test_a_vcs_tgz_is_extracted_into_a_fresh_private_folder_each_time(tmp_path):
    archive = tmp_path / "gitea-vcs-20240501020005-AbC123.tgz"
    vcs_backup_tgz(archive, GOOD_DUMP.read_bytes(), MANIFEST.read_bytes())
    planted = tmp_path / (archive.name + ".d")  # what an earlier version used, or someone else made
    planted.mkdir(mode=0o777)
    (planted / "gitea-vcs-postgres.manifest").write_text("planted\n")

    first, second = resolve(archive, None), resolve(archive, None)
    folders = {first[0].parent, second[0].parent}
    assert len(folders) == 2 and planted not in folders, "a folder was reused"
    for folder in folders:
        assert folder.parent == tmp_path and stat.S_IMODE(folder.stat().st_mode) == 0o700
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()}
        assert modes == {"gitea-vcs-postgres.sql": 0o600, "gitea-vcs-postgres.manifest": 0o600, "vcs.tar": 0o600}
    assert first[1] is not None and first[1].read_bytes() == MANIFEST.read_bytes()
