"""Helpers for driving the real `pgrestore` CLI against the session's sandbox."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pgrestore_sandbox import registry
from pgrestore_sandbox import settings as sandbox_settings
from pgrestore_sandbox.backup import backup
from pgrestore_sandbox.login import can_login
from tests import cli_process, leakscan
from tests.helpers import pod_ready, pods, wait_until

NS, CLUSTER, CLIENT = "services", "keycloak-postgres", "cray-keycloak"
CLIENT_SELECTOR = "app.kubernetes.io/name=cray-keycloak,app.kubernetes.io/instance=cray-keycloak"


class Cli:
    def __init__(self, sandbox, extra_env: dict | None = None):
        self.env = {**os.environ, "KUBECONFIG": str(sandbox.state.kubeconfig),
                    "PGRESTORE_SANDBOX_DIR": str(sandbox.state.root),
                    "PATH": f"{sandbox.state.root / 'bin'}:{os.environ['PATH']}",  # the nodes' pdsh
                    **(extra_env or {})}
        self.outputs: list[str] = []

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "pgrestore.cli", *args]

    def __call__(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        """A run to its end: forked from a process that imported pgrestore once (tests/cli_process.py, with
        the real retry waits), 1.3 s less a run than a fresh interpreter. Runs a test signals, or reads while
        they run, are real processes of their own (popen, argv)."""
        res = cli_process.run(list(args), self.env, timeout=timeout, quick_retries=False)
        self.outputs += [res.stdout, res.stderr]
        return res

    def popen(self, *args: str) -> subprocess.Popen:
        proc = subprocess.Popen(self.argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.env, stdin=subprocess.DEVNULL)
        return leakscan.tee(proc, f"pgrestore {args[0] if args else ''}")  # what the test reads is scanned too


@pytest.fixture
def cli(sandbox) -> Cli:
    return Cli(sandbox)


@pytest.fixture(autouse=True)
def heal_after_failure(request, sandbox, seeded_data):
    """A test that fails leaves the sandbox as the next test needs it (tests/apply/heal.py)."""
    from tests.apply.heal import daemon_log_offset, heal_if_failed
    log_from = daemon_log_offset(sandbox)
    yield
    heal_if_failed(request.node, sandbox, seeded_data, log_from)


@pytest.fixture
def exec_rate(sandbox):
    """Set the exec-rate drill (a stream slowed so a test can catch it mid-way); always off after the test."""
    def set_rate(rate: float) -> None:
        sandbox_settings.update(sandbox.state, exec_bytes_per_second=rate)
    yield set_rate
    set_rate(0)


def server(sandbox):
    return registry.server_for(sandbox.state.clusters, NS, CLUSTER)


def fingerprint(sandbox) -> dict[str, str]:
    """Every table of Keycloak's database: row count and a hash of its contents."""
    srv = server(sandbox)
    tables = srv.psql("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1", db="service_db").split()
    return {t: srv.psql(f"SELECT count(*) || ':' || md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) "
                        f"FROM public.{t} x", db="service_db").strip() for t in tables}


def break_keycloak(sandbox) -> None:
    srv = server(sandbox)
    srv.psql("DROP TABLE user_entity CASCADE; UPDATE realm SET enabled = false; "
             "DELETE FROM event_entity WHERE event_time % 3 = 0;", db="service_db")


def make_backup(sandbox, fmt: str) -> str:
    return backup(sandbox.state, "keycloak", fmt)[0][0]


def credential_secrets(sandbox) -> dict[str, tuple[str, str]]:
    out = {}
    for s in sandbox.api.core.list_namespaced_secret(NS, label_selector=f"cluster-name={CLUSTER}").items:
        out[s.metadata.name] = (base64.b64decode(s.data["username"]).decode(),
                                base64.b64decode(s.data["password"]).decode())
    return out


def secrets_not_opening(sandbox) -> list[str]:
    """The credential secrets whose username and password do not log in (empty: all do)."""
    port = server(sandbox).port
    return sorted(name for name, (user, pw) in credential_secrets(sandbox).items()
                  if not can_login(port, user, pw, "postgres"))


def secrets_open_database(sandbox) -> bool:
    return not secrets_not_opening(sandbox)


def client_ready(sandbox, n: int = 3) -> bool:
    live = pods(sandbox.api.core, NS, CLIENT_SELECTOR)
    return len(live) == n and all(pod_ready(p) for p in live)


def cluster_uid(sandbox) -> str:
    from pgrestore_sandbox.kube import CRD_GROUP, CRD_PLURAL, CRD_VERSION
    cr = sandbox.api.custom.get_namespaced_custom_object(CRD_GROUP, CRD_VERSION, NS, CRD_PLURAL, CLUSTER)
    return cr["metadata"]["uid"]


def settings(sandbox) -> tuple[int, int]:
    """(client replicas, numberOfInstances)."""
    from pgrestore_sandbox.kube import CRD_GROUP, CRD_PLURAL, CRD_VERSION
    replicas = sandbox.api.apps.read_namespaced_stateful_set(CLIENT, NS).spec.replicas
    pg = sandbox.api.custom.get_namespaced_custom_object(CRD_GROUP, CRD_VERSION, NS, CRD_PLURAL, CLUSTER)
    return replicas, pg["spec"]["numberOfInstances"]


def journal_text(sandbox, plan_path: Path) -> tuple[str, str]:
    local = plan_path.with_name(plan_path.name.removesuffix(".json") + ".journal.json").read_text()
    cm = sandbox.api.core.read_namespaced_config_map("pgrestore-journal-keycloak", NS)
    return local, json.dumps(cm.data)


def wait_healthy(sandbox) -> None:
    wait_until("keycloak healthy", lambda: client_ready(sandbox) and secrets_open_database(sandbox), timeout=90)


CONFIRM = re.compile(r"--resume --confirm (\S+?)`")


def confirm_manual_steps(cli: Cli, plan_path: Path, res: subprocess.CompletedProcess, *extra: str, most: int = 5
                         ) -> subprocess.CompletedProcess:
    """As an operator who runs each manual step apply stops at (exit 7, HSM's `cray` checks) and resumes
    confirming it; stdout of every call is kept (`--json` events)."""
    stdout = res.stdout
    for _ in range(most):
        if res.returncode != 7:
            break
        step = CONFIRM.search(res.stderr)
        assert step, res.stderr
        res = cli("apply", str(plan_path), "--auto-approve", "--resume", "--confirm", step.group(1), *extra,
                  timeout=1500)
        stdout += res.stdout
    return subprocess.CompletedProcess(res.args, res.returncode, stdout, res.stderr)
