"""What a new user sees when they get it wrong: one line naming the thing and what to do,
a documented exit code (pgrestore/errors.py), no traceback, and no cluster needed to say it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pgrestore import cli as cli_module
from tests import cli_process

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    home = cli_process.fresh_home()  # crash logs and kube caches land here
    base = {"PATH": "/usr/bin:/bin", "HOME": home, "KUBECONFIG": "/nonexistent/kubeconfig",
            "PYTHONPATH": str(ROOT)}
    return cli_process.run(list(args), env={**base, **(env or {})}, cwd=cwd, timeout=60)


def one_line(res: subprocess.CompletedProcess) -> str:
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    return lines[0]


@pytest.fixture
def plan_file(tmp_path) -> Path:
    path = tmp_path / "p.json"
    path.write_text("{}")
    return path


@pytest.mark.parametrize("args,code,words", [
    (("plan",), 64, ["name the service to restore", "--all"]),
    (("restor",), 64, ["No such command 'restor'", "pgrestore --help"]),
    (("plan", "keycloak", "--bogus"), 64, ["No such option: --bogus"]),
    (("plan", "nosuch"), 64, ["unknown service 'nosuch'", "keycloak"]),
    (("plan", "keycloak", "-o", "/missing/dir/p.json"), 64, ["/missing/dir", "does not exist"]),
    (("plan", "keycloak", "--secrets", "sometimes"), 64, ["--secrets", "from-manifest"]),
    (("plan", "keycloak", "--manifest", "m.yaml"), 64, ["--manifest goes with --dump"]),
    (("plan", "keycloak", "--dump", "/nonexistent.psql"), 64, ["dump file /nonexistent.psql not found"]),
    (("apply", "/nonexistent/plan.json", "--auto-approve"), 64, ["plan file /nonexistent/plan.json not found"]),
    (("rollback",), 64, ["Missing argument 'plan_file'"]),
])
def test_usage_errors_are_one_line_with_exit_64(args, code, words):
    res = run(*args)
    line = one_line(res)
    assert res.returncode == code, res.stderr
    for w in words:
        assert w in line


def test_show_with_an_unknown_format(plan_file):
    res = run("show", str(plan_file), "--format", "bogus")
    assert res.returncode == 64
    assert "'bogus' is not one of 'text', 'markdown'" in one_line(res)


def test_plan_refuses_a_file_that_is_not_a_dump(tmp_path):
    random = tmp_path / "random.bin"
    random.write_bytes(bytes(range(256)) * 64)
    res = run("plan", "keycloak", "--dump", str(random), "-o", str(tmp_path / "p.json"))
    assert res.returncode == 65
    assert "does not start with the pg_dumpall header" in one_line(res)
    assert not (tmp_path / "p.json").exists()


@pytest.mark.parametrize("content,code,words", [
    ("{}", 3, ["format_version None"]),
    ("not json", 3, ["is not JSON"]),
    ("[1, 2]", 3, ["not a pgrestore plan"]),
])
def test_show_refuses_a_plan_file_that_is_not_a_plan(tmp_path, content, code, words):
    path = tmp_path / "p.json"
    path.write_text(content)
    res = run("show", str(path))
    assert res.returncode == code
    line = one_line(res)
    assert all(w in line for w in words)


def test_an_unusable_kubeconfig_names_itself(tmp_path):
    bad = tmp_path / "kubeconfig"
    bad.write_text("clusters: [oops")
    res = run("plan", "keycloak", "--kubeconfig", str(bad))
    assert res.returncode == 78
    assert f"cannot use kubeconfig {bad}" in one_line(res)


def test_an_unreachable_api_server_is_exit_69(tmp_path):
    config = tmp_path / "kubeconfig"
    config.write_text("""apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
""")
    res = run("plan", "keycloak", "--kubeconfig", str(config))
    assert res.returncode == 69
    assert "cannot reach the API server" in one_line(res)


def test_a_bug_is_one_line_naming_a_crash_log_with_the_traceback(tmp_path, monkeypatch, capsys):
    @cli_module.app.command("explode", hidden=True)
    def explode() -> None:
        raise RuntimeError("boom")

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    try:
        code = cli_module.main(["explode"])
    finally:
        cli_module.app.registered_commands.pop()
    err = capsys.readouterr().err
    assert code == 70
    assert "internal error (RuntimeError)" in err and "Traceback" not in err
    logs = list((tmp_path / "pgrestore").glob("crash-*.log"))
    assert len(logs) == 1 and "RuntimeError: boom" in logs[0].read_text()


def test_without_the_sandbox_extra_the_sandbox_command_says_how_to_install_it(tmp_path):
    # A Python that finds none of the extra's packages: a shadowing module raising ImportError is not enough
    # for find_spec, so hide them with a meta-path finder.
    shim = tmp_path / "sitecustomize.py"
    shim.write_text("import sys\n"
                    "class Hide:\n"
                    "    def find_spec(self, name, path=None, target=None):\n"
                    "        if name.split('.')[0] in ('aiohttp', 'moto', 'psycopg'):\n"
                    "            raise ModuleNotFoundError(name)\n"
                    "        return None\n"
                    "sys.meta_path.insert(0, Hide())\n")
    # A Python started afresh (its sitecustomize runs at start-up), not one forked from a loaded one.
    base = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "KUBECONFIG": "/nonexistent/kubeconfig"}
    res = subprocess.run([sys.executable, "-m", "pgrestore.cli", "sandbox", "up"], capture_output=True, text=True,
                         env={**base, "PYTHONPATH": f"{tmp_path}:{ROOT}"}, stdin=subprocess.DEVNULL, timeout=60)
    assert res.returncode == 64
    assert "pip install ./sandbox" in one_line(res)
