"""The leak scan (tests/leakscan.py) is honest: it finds a planted password, names where and whose, and
never prints the password; and a whole pytest session that leaks one fails."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

from pgrestore.core.manifest import render_manifest
from tests import leakscan

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Zq81mLw0pXv7TnQ4sRb2YcE6uHd9KfJ3"  # planted: no real secret's


def _scanner(tmp_path: Path, name: str, content: str | bytes) -> tuple[leakscan.Scanner, Path]:
    scanner = leakscan.Scanner()
    scanner.add_password(PASSWORD, "services/postgres.keycloak-postgres.credentials")
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    path.chmod(0o600)  # as pgrestore writes a local safety manifest; the session's own scan checks the mode
    scanner.add_file(path)
    return scanner, path


def test_a_password_in_a_plan_file_is_found_and_named_without_printing_it(tmp_path):
    scanner, path = _scanner(tmp_path, "plan.json", '{"steps": [{"params": {"note": "pw ' + PASSWORD + '"}}]}')
    leaks = scanner.scan()
    assert [(x.where, x.secret, x.form) for x in leaks] == [
        (str(path), "services/postgres.keycloak-postgres.credentials", "plain text")]
    assert PASSWORD not in leaks[0].line() and str(path) in leaks[0].line()


def test_a_base64_password_is_a_leak_outside_a_secret_manifest(tmp_path):
    encoded = base64.b64encode(PASSWORD.encode()).decode()
    scanner, path = _scanner(tmp_path, "plan.journal.json", f'{{"observed": {{"data": "{encoded}"}}}}')
    assert [(x.where, x.form) for x in scanner.scan()] == [(str(path), "base64")]


def test_a_secret_manifest_may_hold_base64_but_never_plain_text(tmp_path):
    secret = {"metadata": {"name": "postgres.keycloak-postgres.credentials", "namespace": "services"},
              "data": {"username": base64.b64encode(b"postgres").decode(),
                       "password": base64.b64encode(PASSWORD.encode()).decode()}}
    by_design, _ = _scanner(tmp_path, "safety.manifest", render_manifest([secret]))
    assert by_design.scan() == []
    leaky = render_manifest([secret]) + f"# password was {PASSWORD}\n"
    scanner, path = _scanner(tmp_path, "other-safety.manifest", leaky)
    assert [(x.where, x.form) for x in scanner.scan()] == [(str(path), "plain text")]


def test_a_leak_across_a_chunk_boundary_of_a_large_file_is_found(tmp_path):
    body = b"x" * ((1 << 20) - 10) + PASSWORD.encode() + b"y" * 1000  # the password straddles the first MiB
    scanner, path = _scanner(tmp_path, "safety.psql", body)
    assert [x.where for x in scanner.scan()] == [str(path)]


def test_captured_output_and_clean_files_are_scanned_too(tmp_path):
    scanner, _ = _scanner(tmp_path, "clean.json", '{"digest": "hmac-sha256:0f1e"}')
    scanner.add_text("captured output", "tests/x.py::test_y [Captured stderr call]", f"Error: login {PASSWORD} failed")
    assert [x.where for x in scanner.scan()] == ["tests/x.py::test_y [Captured stderr call]"]


def test_the_fake_worlds_passwords_are_known():
    found = dict(leakscan.world_passwords())
    assert len(found) >= 6  # keycloak.json's credential Secrets and its backup manifest's
    assert all(len(pw) >= leakscan.MIN_LENGTH for pw in found)


def test_a_session_whose_test_prints_a_password_fails_naming_the_test_and_the_secret(tmp_path):
    """A pytest session of its own, with the plugin, whose one test prints a fake world's password (read at run
    time, so this file and the inner test's file never hold it): the run fails and says which test and secret."""
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "test_inner.py").write_text(
        "from tests import leakscan\n\n"
        "def test_prints_a_password():\n"
        "    pw, secret = next((p, s) for p, s in leakscan.world_passwords() if 'postgres.keycloak' in s)\n"
        "    print('connecting with', pw)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "tests.leakscan", "-c", os.devnull, "--rootdir", str(inner),
            "--basetemp", str(tmp_path / "basetemp"), "-p", "no:cacheprovider", str(inner / "test_inner.py")]
    res = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=inner, timeout=120)
    passwords = dict(leakscan.world_passwords())
    assert res.returncode == 1, res.stdout[-2000:]
    assert "1 passed" in res.stdout
    assert "LEAK SCAN FAILED" in res.stdout
    assert "test_inner.py::test_prints_a_password [Captured stdout call]: the password of " \
           "services/postgres.keycloak-postgres.credentials" in res.stdout
    assert not any(pw in res.stdout + res.stderr for pw in passwords), "the scan printed a password"
