"""`plan --postgresql-spec FILE` with a file that cannot be the spec: one line naming the file and
what to pass, exit 64, before any cluster is asked (the kubeconfig's API server does not answer)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests import cli_process

from .test_bad_inputs import ROOT, kubeconfig

POSTGRESQL = """apiVersion: acid.zalan.do/v1
kind: postgresql
metadata: {name: keycloak-postgres%s}
spec: {teamId: keycloak, numberOfInstances: 3}
"""

CASES = [
    ("missing", None, ["spec.yaml not found", "pass a postgresql resource as YAML or JSON"]),
    ("directory", "DIR", ["is a directory"]),
    ("binary", b"\x1f\x8b\x08\x00\xff\xfe", ["is not text"]),
    ("not yaml", "apiVersion: [acid\nkind: {", ["is not valid YAML at line"]),
    ("another cluster", POSTGRESQL.replace("keycloak-postgres", "gitea-vcs-postgres") % "",
     ["holds no postgresql resource named keycloak-postgres"]),
    ("a service, not a postgresql", "apiVersion: v1\nkind: Service\nmetadata: {name: keycloak-postgres}\n",
     ["holds no postgresql resource named keycloak-postgres"]),
    ("another namespace", POSTGRESQL % ", namespace: spire", ["is for namespace spire, not services"]),
    ("no spec", "apiVersion: acid.zalan.do/v1\nkind: postgresql\nmetadata: {name: keycloak-postgres}\n",
     ["has no spec"]),
]


@pytest.mark.parametrize("case,content,words", CASES, ids=[c[0] for c in CASES])
def test_a_bad_spec_file_is_one_line_exit_64_before_the_cluster_is_asked(tmp_path, case, content, words):
    spec, home = tmp_path / "spec.yaml", tmp_path / "home"
    home.mkdir()
    if content == "DIR":
        spec.mkdir()
    elif isinstance(content, bytes):
        spec.write_bytes(content)
    elif content is not None:
        spec.write_text(content)
    config = tmp_path / "unreachable.kubeconfig"
    config.write_text(kubeconfig())
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "PYTHONPATH": str(ROOT),
           "KUBECONFIG": str(config)}
    res = cli_process.run(["plan", "keycloak", "--postgresql-spec", str(spec)], env=env, cwd=tmp_path)
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert "Traceback" not in res.stderr + res.stdout, res.stderr
    assert len(lines) == 1, f"want one line, got:\n{res.stderr}"
    assert res.returncode == 64, f"exit {res.returncode}: {lines[0]}"
    assert "--postgresql-spec" in lines[0] and str(spec) in lines[0], lines[0]
    missing = [w for w in words if w not in lines[0]]
    assert not missing, f"{missing} not in: {lines[0]}"
    assert not list(Path(home).glob(".local/state/pgrestore/crash-*.log"))
