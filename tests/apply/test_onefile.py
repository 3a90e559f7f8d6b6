"""The single file for an admin node without internet (scripts/build-onefile.sh): built here for the machine's
system Python, then run by that Python with no site-packages at all (-I -S), as on a node where none of our
dependencies is installed: it plans and applies a Keycloak restore on the sandbox.

The file shipped is built for CPython 3.10 to 3.13; this one only for the system Python's version, which is
the same build with fewer wheels (the download is what takes the time)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile

import pytest

from tests import leakscan
from tests.cli_process import ROOT

from .conftest import (
    Cli,
    break_keycloak,
    client_ready,
    fingerprint,
    make_backup,
    secrets_open_database,
    settings,
    wait_healthy,
)

SYSTEM_PYTHON = "/usr/bin/python3"  # Debian 12's, outside the test venv: none of our dependencies


def _version(python: str) -> str:
    return subprocess.run([python, "-c", "import sys; print('%d%d' % sys.version_info[:2])"],
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="module")
def onefile(tmp_path_factory):
    out = tmp_path_factory.mktemp("onefile") / "pgrestore.pex"
    res = subprocess.run(["bash", "scripts/build-onefile.sh", str(out)], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "PGRESTORE_ONEFILE_PYTHONS": _version(SYSTEM_PYTHON)}, timeout=1200)
    assert res.returncode == 0, res.stderr[-4000:]
    # Where it unpacks: outside the session's folders, which the leak scan reads file by file.
    pex_root = tempfile.mkdtemp(prefix="pgrestore-pex-root-")
    yield out, pex_root
    shutil.rmtree(pex_root, ignore_errors=True)


def test_the_single_file_plans_and_applies_a_restore_under_a_python_without_our_dependencies(sandbox, onefile,
                                                                                                tmp_path):
    pex, pex_root = onefile
    bare = [SYSTEM_PYTHON, "-I", "-S"]
    assert subprocess.run([*bare, "-c", "import kubernetes"], capture_output=True).returncode != 0
    env = {**Cli(sandbox).env, "PEX_ROOT": pex_root, "HOME": str(tmp_path)}

    def run(*args: str) -> subprocess.CompletedProcess:
        res = subprocess.run([*bare, str(pex), *args], capture_output=True, text=True, env=env, timeout=600)
        leakscan.observe_pgrestore(["pgrestore.cli", *args], res.stdout, res.stderr)  # nor a secret in its output
        return res

    wait_healthy(sandbox)
    key = make_backup(sandbox, "psql")
    before, settings_before = fingerprint(sandbox), settings(sandbox)
    break_keycloak(sandbox)
    plan = tmp_path / "plan.json"
    res = run("plan", "keycloak", "--backup", key, "-o", str(plan), "--detailed-exitcode")
    assert res.returncode == 2, res.stderr[-3000:]
    res = run("apply", str(plan), "--auto-approve")
    assert res.returncode == 0, res.stderr[-3000:]
    assert fingerprint(sandbox) == before
    assert settings(sandbox) == settings_before
    assert secrets_open_database(sandbox) and client_ready(sandbox)
    status = run("status", "keycloak", "--json")
    assert status.returncode == 0, status.stderr
    shown = json.loads(status.stdout)
    assert shown["journal"]["status"] == "done" and shown["lock_holder"] is None
