"""The leader is Patroni's fact: failover moves it, and so does deleting the leader's pod."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from pgrestore_sandbox import registry
from pgrestore_sandbox.cli import app
from tests.helpers import exec_in_pod, pod_ready, pods, wait_until
from tests.sandbox.support import labelled_leader, leader, put_leader_back

NS = "services"


def _patronictl(core, pod: str) -> list[dict]:
    rc, out, err, _ = exec_in_pod(core, NS, pod, ["patronictl", "list", "-f", "json"])
    assert rc == 0, err
    return json.loads(out)


def _create_table(core, pod: str) -> tuple[int, str]:
    rc, _, err, _ = exec_in_pod(core, NS, pod, ["psql", "-U", "postgres", "-c",
                                                "CREATE TABLE failover_probe (i int); DROP TABLE failover_probe;"])
    return rc, err


def test_failover_moves_the_label_patronictl_leader_and_writability(sandbox):
    core, cluster = sandbox.api.core, "cray-smd-postgres"
    # The leader as it is now: an earlier restore restarts the leader last, which moves it to a replica.
    old = next(m["Member"] for m in _patronictl(core, f"{cluster}-0") if m["Role"] == "Leader")
    new = next(f"{cluster}-{i}" for i in range(3) if f"{cluster}-{i}" != old)
    timeline = _patronictl(core, old)[0]["TL"]
    try:
        res = CliRunner().invoke(app, ["failover", "hsm", "--to", new, "--state-dir", str(sandbox.state.root)])
        assert res.exit_code == 0, res.output
        assert f'Successfully failed over to "{new}"' in res.output
        wait_until(f"{new} labelled master", lambda: labelled_leader(core, NS, cluster, new))

        members = _patronictl(core, old)
        assert [m["Member"] for m in members if m["Role"] == "Leader"] == [new]
        assert all(m["TL"] == timeline + 1 for m in members), "a promotion starts a new timeline"
        rc, err = _create_table(core, old)
        assert rc == 1 and "read-only transaction" in err
        assert _create_table(core, new) == (0, "")

        res = CliRunner().invoke(app, ["failover", "hsm", "--to", new, "--state-dir", str(sandbox.state.root)])
        assert res.exit_code != 0 and "Failover target and source are the same." in str(res.exception)
    finally:
        put_leader_back(sandbox, NS, cluster, old)


def test_deleting_the_leader_pod_moves_the_leader_and_restarts_the_server(sandbox):
    core, cluster = sandbox.api.core, "capsules-dispatch-server-postgres"
    pod0 = f"{cluster}-0"
    server = registry.server_for(sandbox.state.clusters, NS, cluster)
    before = server.pid()
    try:
        core.delete_namespaced_pod(pod0, NS)
        new = wait_until("another member leads", lambda: (leader(sandbox.state, NS, cluster) or pod0) != pod0
                         and leader(sandbox.state, NS, cluster))
        wait_until("the server restarted: every session dropped", lambda: server.pid() not in (None, before))
        wait_until(f"{new} labelled master and {pod0} back as a Ready replica",
                   lambda: labelled_leader(core, NS, cluster, new) and any(
                       p.metadata.name == pod0 and pod_ready(p)
                       for p in pods(core, NS, f"cluster-name={cluster}")))
    finally:
        put_leader_back(sandbox, NS, cluster, pod0)
