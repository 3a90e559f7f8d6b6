"""Exec into Spilo pods reaches the cluster's real PostgreSQL, over v4 and v5."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.helpers import exec_in_pod, pod_ready, pods, wait_until

NS, LEADER = "services", "keycloak-postgres-0"
V4, V5 = "v4.channel.k8s.io", "v5.channel.k8s.io"


@pytest.mark.parametrize("protocol", [V4, V5])
def test_psql_over_stdin_returns_rows_and_exit_code(sandbox, protocol):
    # v4 cannot close stdin, so psql must end itself with \q; v5 closes the channel.
    script = "SELECT count(*) FROM user_entity;\n" + ("\\q\n" if protocol == V4 else "")
    rc, out, err, used = exec_in_pod(sandbox.api.core, NS, LEADER,
                                     ["psql", "-U", "postgres", "-d", "service_db", "-At"], script, protocol)
    assert used == protocol
    assert (rc, out.strip(), err) == (0, "400", "")


@pytest.mark.parametrize("protocol", [V4, V5])
def test_failing_sql_gives_psql_exit_code_and_stderr(sandbox, protocol):
    script = "SELECT * FROM no_such_table;\n\\q\n"
    rc, _, err, _ = exec_in_pod(sandbox.api.core, NS, LEADER,
                                ["psql", "-U", "postgres", "-v", "ON_ERROR_STOP=1"], script, protocol)
    assert rc == 3
    assert 'relation "no_such_table" does not exist' in err


def test_bash_c_pipeline_and_exit_code(sandbox):
    rc, out, _, _ = exec_in_pod(sandbox.api.core, NS, LEADER,
                                ["bash", "-c", "psql -U postgres -At -c 'select 7' | tr 7 8; exit 4"])
    assert (rc, out.strip()) == (4, "8")


def test_patronictl_names_the_leader(sandbox):
    rc, out, _, _ = exec_in_pod(sandbox.api.core, NS, LEADER, ["patronictl", "list", "-f", "json"])
    members = json.loads(out)
    assert rc == 0
    assert [m["Member"] for m in members if m["Role"] == "Leader"] == [LEADER]
    assert len(members) == 3
    rc, table, _, _ = exec_in_pod(sandbox.api.core, NS, LEADER, ["patronictl", "list"])
    assert "| keycloak-postgres-0 |" in table and "Leader" in table


def test_replicas_are_read_only(sandbox):
    rc, _, err, _ = exec_in_pod(sandbox.api.core, NS, "keycloak-postgres-1",
                                ["psql", "-U", "postgres", "-c", "CREATE TABLE nope (i int)"])
    assert rc == 1 and "read-only transaction" in err


def test_sandbox_can_force_v4_like_a_csm_kubelet(sandbox):
    sandbox.state.exec_protocol.write_text("v4\n")
    try:
        _, out, _, used = exec_in_pod(sandbox.api.core, NS, LEADER, ["psql", "-U", "postgres", "-At"],
                                      "SELECT 1;\n\\q\n")
    finally:
        sandbox.state.exec_protocol.write_text("auto\n")
    assert used == V4 and out.strip() == "1"


def test_kubectl_exec_works_unchanged(sandbox, tmp_path):
    import subprocess
    # A HOME of its own: kubectl writes its discovery cache there.
    env = {"KUBECONFIG": str(sandbox.state.kubeconfig), "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path)}
    res = subprocess.run(["kubectl", "exec", "-i", "-n", NS, LEADER, "-c", "postgres", "--",
                          "psql", "-U", "postgres", "-d", "service_db", "-At"],
                         input="SELECT count(*) FROM realm;\n", capture_output=True, text=True, env=env, timeout=60)
    assert (res.returncode, res.stdout.strip()) == (0, "2"), res.stderr
    res = subprocess.run(["kubectl", "exec", "-n", NS, LEADER, "-c", "postgres", "--", "bash", "-c", "exit 5"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode == 5


def test_a_stalled_exec_never_runs_its_command_once_its_client_or_its_pod_is_gone(sandbox, sandbox_settings):
    """The exec-stall drill holds an exec's answer. Its command must not run later if the client gave up
    meanwhile, nor if the pod it was for was replaced (a kubelet's exec is bound to its container): a restore
    given up at its deadline once replayed the rest of its dump into the next test's cluster two minutes on.
    An exec whose client waits and whose pod stays does run, after the stall."""
    from kubernetes.stream import stream
    replica = "keycloak-postgres-1"
    marker = sandbox.state.root / "homes" / NS / replica / "stalled-exec-ran"
    marker.unlink(missing_ok=True)
    sandbox_settings(exec_stall_seconds=5)
    argv = ["bash", "-c", f"echo ran > {marker}"]
    ws = stream(sandbox.api.core.connect_get_namespaced_pod_exec, replica, NS, container="postgres", command=argv,
                stdin=True, stdout=True, stderr=True, tty=False, _preload_content=False)
    # The client goes away during the stall: its connection closed without the close handshake (a close()
    # waits up to 3 s for the server's answer to its close frame, which a stalled exec does not read).
    ws.sock.shutdown()
    time.sleep(7)
    assert not marker.exists(), "the command of an exec whose client had gone ran after the stall"

    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(exec_in_pod, sandbox.api.core, NS, replica, argv)
        time.sleep(1)
        sandbox.api.core.delete_namespaced_pod(replica, NS, grace_period_seconds=0)
        rc, _, _, _ = answer.result(timeout=60)
    assert rc != 0 and not marker.exists(), "the command ran in a pod that had been replaced"
    wait_until("the replica back", lambda: any(p.metadata.name == replica and pod_ready(p) for p in
                                               pods(sandbox.api.core, NS, "cluster-name=keycloak-postgres")),
               timeout=120)

    rc, _, _, _ = exec_in_pod(sandbox.api.core, NS, replica, argv)
    assert rc == 0 and marker.read_text() == "ran\n"
    marker.unlink()

