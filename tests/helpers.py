"""Small helpers the tests share: waiting, exec, reading secrets."""

from __future__ import annotations

import base64
import io
import tarfile
import time
from collections.abc import Callable

from kubernetes import client
from kubernetes.stream import stream


def wait_until(what: str, check: Callable[[], object], timeout: float = 60.0, every: float = 0.3):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def exec_in_pod(core: client.CoreV1Api, ns: str, pod: str, command: list[str], stdin: str | None = None,
                protocol: str | None = None, container: str = "postgres") -> tuple[int, str, str, str]:
    """Run a command in a pod; returns (exit code, stdout, stderr, negotiated subprotocol)."""
    extra = {"_headers": {"sec-websocket-protocol": protocol}} if protocol else {}
    ws = stream(core.connect_get_namespaced_pod_exec, pod, ns, container=container, command=command,
                stdin=stdin is not None, stdout=True, stderr=True, tty=False, _preload_content=False, **extra)
    if stdin is not None:
        ws.write_stdin(stdin)
        ws.close_channel(0)  # a no-op on v4, where only a trailing \q ends psql
    out, err = [], []
    deadline = time.monotonic() + 60
    while ws.is_open() and time.monotonic() < deadline:
        ws.update(timeout=1)
        out.append(ws.read_stdout() or "")
        err.append(ws.read_stderr() or "")
    rc = ws.returncode
    ws.close()
    return rc, "".join(out), "".join(err), ws.subprotocol


def secret_password(core: client.CoreV1Api, ns: str, name: str) -> str:
    return base64.b64decode(core.read_namespaced_secret(name, ns).data["password"]).decode()


def pod_ready(pod: client.V1Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def pods(core: client.CoreV1Api, ns: str, selector: str) -> list[client.V1Pod]:
    """Live pods only: Job pods that finished also carry the workload's labels."""
    return [p for p in core.list_namespaced_pod(ns, label_selector=selector).items
            if not p.metadata.deletion_timestamp and p.status.phase not in ("Succeeded", "Failed")]


def vcs_backup_tgz(path, dump: bytes, manifest: bytes, volume_root=None) -> None:
    """As backup_vcs.sh makes it: tar -czf of gitea-vcs-postgres.sql, .manifest and vcs.tar; vcs.tar
    is `tar -cf - /var/lib/gitea/` of `volume_root` (a pod's root folder), or one repository's config."""
    volume = io.BytesIO()
    with tarfile.open(fileobj=volume, mode="w") as inner:
        if volume_root is not None:
            inner.add(volume_root / "var/lib/gitea", arcname="var/lib/gitea")
        else:
            data = b"[core]\n\trepositoryformatversion = 0\n"
            info = tarfile.TarInfo("var/lib/gitea/git/repositories/cray/config.git/config")
            info.size = len(data)
            inner.addfile(info, io.BytesIO(data))
    with tarfile.open(path, "w:gz") as tar:
        for name, body in (("gitea-vcs-postgres.sql", dump), ("gitea-vcs-postgres.manifest", manifest),
                           ("vcs.tar", volume.getvalue())):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))


def sandbox_plan_keys(sandbox):
    """The plan keys as apply reads them from the sandbox's cluster (Secret pgrestore-plan-key)."""
    from pgrestore.adapters.kube import Kube
    from pgrestore.core.plankey import ClusterKeys
    return ClusterKeys(lambda: Kube(str(sandbox.state.kubeconfig)))


def resigned(doc: dict, sandbox) -> dict:
    """A plan edited by a test and signed again with the cluster's plan key: well-formed, as if `plan` made it."""
    from pgrestore.adapters.kube import Kube
    from pgrestore.contract.document import signature
    from pgrestore.core.plankey import ensure
    doc["checksum"] = signature(doc, ensure(Kube(str(sandbox.state.kubeconfig)), doc["namespace"]))
    return doc
