"""The Kubernetes adapter: the official client behind a small surface of our own.

Objects come back as plain JSON-shaped dicts (camelCase, as `kubectl get -o json`),
so plans and journals can hold them as they are. Library errors become ours.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from datetime import datetime, timezone

import yaml
from kubernetes import client, config, watch
from kubernetes.stream import stream
from urllib3.exceptions import HTTPError
from websocket import WebSocketException

from core.errors import ConfigError, Conflict, KubernetesError, NotFound, StepTimeout, Unreachable
from core.model import Target

PG_GROUP, PG_VERSION, PG_PLURAL = "acid.zalan.do", "v1", "postgresqls"
V5 = "v5.channel.k8s.io"
ERROR_CHANNEL = 3


# A blocked write or a half-received frame fails after this long instead of hanging:
# a CSM exec stream crosses NCN -> API VIP -> apiserver -> kubelet, any of which can drop it.
STALL_SECONDS = 120
WaitTimeout = StepTimeout


@dataclass(frozen=True)
class ExecResult:
    returncode: int | None
    stdout: str
    stderr: str
    protocol: str


@contextmanager
def _translated(what: str):
    try:
        yield
    except client.ApiException as e:
        if e.status == 404:
            raise NotFound(f"{what}: not found") from None
        if e.status == 409:
            raise Conflict(f"{what}: conflict (exists already, or changed since read)") from None
        reason = e.reason or "error"
        raise KubernetesError(f"{what}: the API server answered {e.status} {reason}") from None
    except WebSocketException as e:
        raise KubernetesError(f"{what}: the exec stream broke ({type(e).__name__})") from None
    except (HTTPError, OSError) as e:
        raise Unreachable(f"{what}: cannot reach the API server ({type(e).__name__}); check the kubeconfig's "
                          f"server and the network") from None


def _optional(what: str, read: Callable[[], Any]) -> Any:
    """read(), or None if the object does not exist."""
    try:
        with _translated(what):
            return read()
    except NotFound:
        return None


class Kube:
    def __init__(self, kubeconfig: str | None = None, context: str | None = None):
        try:
            self.api_client = config.new_client_from_config(config_file=kubeconfig, context=context)
        except (config.ConfigException, OSError, ValueError, TypeError, AttributeError, yaml.YAMLError) as e:
            where = kubeconfig or "~/.kube/config"
            detail = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
            raise ConfigError(f"cannot use kubeconfig {where} ({detail}); set KUBECONFIG or pass --kubeconfig") \
                from None
        # Typed as Any: this adapter speaks JSON-shaped dicts to the client (bodies and results),
        # which the client accepts and returns as its models' serialised form.
        self.core: Any = client.CoreV1Api(self.api_client)
        self.apps: Any = client.AppsV1Api(self.api_client)
        self.batch: Any = client.BatchV1Api(self.api_client)
        self.custom: Any = client.CustomObjectsApi(self.api_client)
        self.coordination: Any = client.CoordinationV1Api(self.api_client)

    def _dict(self, obj: Any) -> Any:
        """JSON-shaped dict of a client model; None stays None."""
        return self.api_client.sanitize_for_serialization(obj)

    # -- identity -------------------------------------------------------------
    def cluster_identity(self) -> dict:
        with _translated("namespace kube-system"):
            uid = self.core.read_namespace("kube-system").metadata.uid
        return {"server": self.api_client.configuration.host, "kube_system_uid": uid}

    # -- any recorded object ---------------------------------------------------
    def read(self, target: Target) -> dict | None:
        """The object a plan recorded, by its address; None if it is gone."""
        ns, name = target.namespace, target.name
        readers: dict[str, Callable[[], object]] = {
            "postgresql": lambda: self.custom.get_namespaced_custom_object(PG_GROUP, PG_VERSION, ns, PG_PLURAL, name),
            "Secret": lambda: self.core.read_namespaced_secret(name, ns),
            "Job": lambda: self.batch.read_namespaced_job(name, ns),
            "Pod": lambda: self.core.read_namespaced_pod(name, ns),
            "CronJob": lambda: self.custom.get_namespaced_custom_object("batch", self.cronjob_version(), ns,
                                                                        "cronjobs", name),
        }
        read = readers.get(target.kind) or (lambda: self._apps_fn(target.kind, "read")(name, ns))
        found = _optional(f"{target.kind.lower()} {ns}/{name}", read)
        if found is None or isinstance(found, dict):
            return found
        return self._dict(found)

    # -- workloads ------------------------------------------------------------
    def list_workloads(self, kind: str, ns: str, selector: str) -> list[dict]:
        with _translated(f"{kind.lower()}s {selector} in {ns}"):
            return [self._dict(w) for w in self._apps_fn(kind, "list")(ns, label_selector=selector).items]

    def _apps_fn(self, kind: str, verb: str) -> Callable:
        suffix = {"StatefulSet": "stateful_set", "Deployment": "deployment", "DaemonSet": "daemon_set"}[kind]
        return getattr(self.apps, f"{verb}_namespaced_{suffix}")

    def get_workload(self, kind: str, ns: str, name: str) -> dict:
        with _translated(f"{kind.lower()} {ns}/{name}"):
            return self._dict(self._apps_fn(kind, "read")(name, ns))

    def scale(self, kind: str, ns: str, name: str, replicas: int) -> None:
        with _translated(f"scale {kind.lower()} {ns}/{name}"):
            self._apps_fn(kind, "patch")(name, ns, {"spec": {"replicas": replicas}})

    def rollout_restart(self, kind: str, ns: str, name: str) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}}}
        with _translated(f"rollout restart {kind.lower()} {ns}/{name}"):
            self._apps_fn(kind, "patch")(name, ns, body)

    # -- pods -----------------------------------------------------------------
    def list_pods(self, ns: str, selector: str) -> list[dict]:
        with _translated(f"pods {selector} in {ns}"):
            return [self._dict(p) for p in self.core.list_namespaced_pod(ns, label_selector=selector).items]

    def delete_pod(self, ns: str, name: str) -> None:
        with _translated(f"pod {ns}/{name}"):
            self.core.delete_namespaced_pod(name, ns)

    # -- postgresql resources --------------------------------------------------
    def get_postgresql(self, ns: str, name: str) -> dict | None:
        return _optional(f"postgresql {ns}/{name}",
                         lambda: self.custom.get_namespaced_custom_object(PG_GROUP, PG_VERSION, ns, PG_PLURAL, name))

    def create_postgresql(self, body: dict) -> dict:
        meta = body["metadata"]
        with _translated(f"create postgresql {meta['namespace']}/{meta['name']}"):
            return self.custom.create_namespaced_custom_object(PG_GROUP, PG_VERSION, meta["namespace"], PG_PLURAL, body)

    def delete_postgresql(self, ns: str, name: str) -> None:
        with _translated(f"delete postgresql {ns}/{name}"):
            self.custom.delete_namespaced_custom_object(PG_GROUP, PG_VERSION, ns, PG_PLURAL, name)

    def set_instances(self, ns: str, name: str, n: int) -> None:
        with _translated(f"patch postgresql {ns}/{name}"):
            self.custom.patch_namespaced_custom_object(
                PG_GROUP, PG_VERSION, ns, PG_PLURAL, name, {"spec": {"numberOfInstances": n}})

    # -- cronjobs -------------------------------------------------------------------
    def cronjob_version(self) -> str:
        """batch/v1 from Kubernetes 1.21; CSM 1.2's 1.20 serves only batch/v1beta1."""
        if not hasattr(self, "_cronjob_version"):
            self._cronjob_version = "v1beta1"
            for version in ("v1", "v1beta1"):
                if self._serves_cronjobs(version):
                    self._cronjob_version = version
                    break
        return self._cronjob_version

    def _serves_cronjobs(self, version: str) -> bool:
        def listing() -> Any:
            return self.custom.list_cluster_custom_object("batch", version, "cronjobs", limit=1)
        return _optional(f"cronjobs batch/{version}", listing) is not None

    def get_cronjob(self, ns: str, name: str) -> dict | None:
        return _optional(f"cronjob {ns}/{name}", lambda: self.custom.get_namespaced_custom_object(
            "batch", self.cronjob_version(), ns, "cronjobs", name))

    def suspend_cronjob(self, ns: str, name: str, suspend: bool) -> None:
        with _translated(f"patch cronjob {ns}/{name}"):
            self.custom.patch_namespaced_custom_object("batch", self.cronjob_version(), ns, "cronjobs", name,
                                                       {"spec": {"suspend": suspend}})

    def wait_jobs_of_cronjob_finished(self, ns: str, cronjob: str, what: str, timeout: float) -> None:
        def active(items: list[dict]) -> bool:
            return not any(_owned_by(j, "CronJob", cronjob) and not _finished(j) for j in items)
        self._wait(self.batch.list_namespaced_job, (ns,), {}, active, what, timeout)

    # -- secrets ----------------------------------------------------------------
    def list_secrets(self, ns: str, selector: str) -> list[dict]:
        with _translated(f"secrets {selector} in {ns}"):
            return [self._dict(s) for s in self.core.list_namespaced_secret(ns, label_selector=selector).items]

    def read_secret(self, ns: str, name: str) -> dict | None:
        return self._dict(_optional(f"secret {ns}/{name}",
                                    lambda: self.core.read_namespaced_secret(name, ns)))

    def delete_secret(self, ns: str, name: str) -> None:
        _optional(f"delete secret {ns}/{name}", lambda: self.core.delete_namespaced_secret(name, ns))

    def create_secret(self, ns: str, body: dict) -> None:
        with _translated(f"create secret {ns}/{body['metadata']['name']}"):
            self.core.create_namespaced_secret(ns, body)

    def put_secret(self, ns: str, body: dict) -> None:
        """Create or replace a secret in one call each way, never leaving a window without it."""
        name = body["metadata"]["name"]
        try:
            with _translated(f"replace secret {ns}/{name}"):
                self.core.replace_namespaced_secret(name, ns, body)
            return
        except NotFound:
            pass
        try:
            self.create_secret(ns, body)
        except Conflict:  # created meanwhile (the operator's sync): replace that one
            with _translated(f"replace secret {ns}/{name}"):
                self.core.replace_namespaced_secret(name, ns, body)

    # -- jobs -------------------------------------------------------------------
    def list_jobs(self, ns: str, selector: str) -> list[dict]:
        with _translated(f"jobs {selector} in {ns}"):
            return [self._dict(j) for j in self.batch.list_namespaced_job(ns, label_selector=selector).items]

    def get_job(self, ns: str, name: str) -> dict:
        with _translated(f"job {ns}/{name}"):
            return self._dict(self.batch.read_namespaced_job(name, ns))

    def delete_job(self, ns: str, name: str) -> None:
        _optional(f"delete job {ns}/{name}", lambda: self.batch.delete_namespaced_job(
            name, ns, body=client.V1DeleteOptions(propagation_policy="Foreground")))

    def create_job(self, ns: str, body: dict) -> None:
        with _translated(f"create job {ns}/{body['metadata']['name']}"):
            self.batch.create_namespaced_job(ns, body)

    # -- leases and config maps ---------------------------------------------------
    def get_lease(self, ns: str, name: str) -> dict | None:
        return self._dict(_optional(f"lease {ns}/{name}",
                                    lambda: self.coordination.read_namespaced_lease(name, ns)))

    def create_lease(self, ns: str, body: dict) -> bool:
        """False if someone else created it first."""
        try:
            with _translated(f"create lease {ns}/{body['metadata']['name']}"):
                self.coordination.create_namespaced_lease(ns, body)
            return True
        except Conflict:
            return False

    def replace_lease(self, ns: str, body: dict) -> bool:
        """False if the lease changed since it was read (resourceVersion conflict)."""
        try:
            with _translated(f"update lease {ns}/{body['metadata']['name']}"):
                self.coordination.replace_namespaced_lease(body["metadata"]["name"], ns, body)
            return True
        except Conflict:
            return False

    def delete_lease(self, ns: str, name: str) -> None:
        _optional(f"delete lease {ns}/{name}", lambda: self.coordination.delete_namespaced_lease(name, ns))

    def upsert_configmap(self, ns: str, name: str, data: dict[str, str], labels: dict | None = None) -> None:
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels or {}},
                "data": data}
        try:
            with _translated(f"configmap {ns}/{name}"):
                self.core.replace_namespaced_config_map(name, ns, body)
        except NotFound:
            with _translated(f"create configmap {ns}/{name}"):
                self.core.create_namespaced_config_map(ns, body)

    def get_configmap(self, ns: str, name: str) -> dict | None:
        return self._dict(_optional(f"configmap {ns}/{name}",
                                    lambda: self.core.read_namespaced_config_map(name, ns)))

    # -- waiting --------------------------------------------------------------------
    def wait_pods(self, ns: str, selector: str, done: Callable[[list[dict]], bool], what: str,
                  timeout: float) -> list[dict]:
        return self._wait(self.core.list_namespaced_pod, (ns,), {"label_selector": selector}, done, what, timeout)

    def wait_secrets(self, ns: str, selector: str, done: Callable[[list[dict]], bool], what: str,
                     timeout: float) -> list[dict]:
        return self._wait(self.core.list_namespaced_secret, (ns,), {"label_selector": selector}, done, what, timeout)

    def wait_postgresql(self, ns: str, name: str, done: Callable[[dict | None], bool], what: str,
                        timeout: float) -> None:
        def listing(*_, **kw):
            return self.custom.list_namespaced_custom_object(PG_GROUP, PG_VERSION, ns, PG_PLURAL, **kw)
        self._wait(listing, (), {"field_selector": f"metadata.name={name}"},
                   lambda items: done(items[0] if items else None), what, timeout)

    def wait_job_complete(self, ns: str, name: str, what: str, timeout: float) -> None:
        def complete(items):
            return bool(items) and any(c.get("type") == "Complete" and c.get("status") == "True"
                                       for c in (items[0].get("status") or {}).get("conditions") or [])
        self._wait(self.batch.list_namespaced_job, (ns,), {"field_selector": f"metadata.name={name}"},
                   complete, what, timeout)

    def wait_job_gone(self, ns: str, name: str, what: str, timeout: float) -> None:
        self._wait(self.batch.list_namespaced_job, (ns,), {"field_selector": f"metadata.name={name}"},
                   lambda items: not items, what, timeout)

    def wait_workload(self, kind: str, ns: str, name: str, done: Callable[[dict], bool], what: str,
                      timeout: float) -> None:
        self._wait(self._apps_fn(kind, "list"), (ns,), {"field_selector": f"metadata.name={name}"},
                   lambda items: bool(items) and done(items[0]), what, timeout)

    def _wait(self, list_fn, args, kwargs, done, what: str, timeout: float) -> list[dict]:
        """List, check, then watch from that resourceVersion and re-check on each event."""
        deadline = time.monotonic() + timeout
        while True:
            with _translated(what):
                listing = list_fn(*args, **kwargs)
            items, rv = self._items(listing)
            if done(items):
                return items
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(f"timed out after {timeout:.0f}s waiting for {what}")
            try:
                with _translated(what):
                    for _event in watch.Watch().stream(list_fn, *args, resource_version=rv,
                                                       timeout_seconds=max(1, int(remaining)), **kwargs):
                        break  # something changed: list again and re-check
            except KubernetesError:
                time.sleep(0.5)  # e.g. 410 Gone: the next list starts afresh

    def _items(self, listing) -> tuple[list[dict], str]:
        if isinstance(listing, dict):
            return listing.get("items", []), listing["metadata"]["resourceVersion"]
        return [self._dict(i) for i in listing.items], listing.metadata.resource_version

    # -- exec -------------------------------------------------------------------------
    def exec(self, ns: str, pod: str, container: str, argv: list[str], stdin: Iterable[bytes] | None = None,
             stdin_end: bytes = b"", deadline: float | None = None,
             on_stdout: Callable[[bytes], None] | None = None) -> ExecResult:
        """Run a command in a pod, streaming stdin and draining output as it goes.

        Over v5 stdin is closed at the end; over v4 (CSM's kubelets) it cannot be, so the
        caller passes `stdin_end` (e.g. psql's \\q) for the command to end by itself.
        `deadline` (time.monotonic()) bounds the whole exec: past it the stream is closed
        and StepTimeout raised, so a hung stream fails its step instead of hanging apply.
        `on_stdout` receives stdout as it arrives (a dump streamed out), instead of keeping a tail.
        """
        what = f"exec in pod {ns}/{pod}"
        with _translated(what):
            ws = stream(self.core.connect_get_namespaced_pod_exec, pod, ns, container=container, command=argv,
                        stdin=stdin is not None, stdout=True, stderr=True, tty=False,
                        _preload_content=False, binary=True)
        if getattr(ws, "sock", None) is not None:
            ws.sock.settimeout(STALL_SECONDS)
        out, err, status = bytearray(), bytearray(), bytearray()

        def in_time() -> None:
            if deadline is not None and time.monotonic() > deadline:
                raise StepTimeout(f"{what} ({argv[0]}) ran past its step's deadline; the stream was closed")

        try:
            with _translated(what):
                for chunk in stdin or ():
                    in_time()
                    ws.write_stdin(chunk)
                    self._drain(ws, out, err, status, timeout=0, on_stdout=on_stdout)
                if stdin is not None:
                    if stdin_end:
                        ws.write_stdin(stdin_end)
                    if ws.subprotocol == V5:
                        ws.close_channel(0)
                while ws.is_open():
                    in_time()
                    self._drain(ws, out, err, status, timeout=1, on_stdout=on_stdout)
                while ws.peek_stdout() or ws.peek_stderr() or ws.peek_channel(ERROR_CHANNEL):  # what is left
                    self._drain(ws, out, err, status, timeout=0, on_stdout=on_stdout)
        finally:
            ws.close()
        return ExecResult(_exit_code(bytes(status)), out.decode(errors="replace"), err.decode(errors="replace"),
                          ws.subprotocol or "")

    @staticmethod
    def _drain(ws, out: bytearray, err: bytearray, status: bytearray, timeout: float,
               on_stdout: Callable[[bytes], None] | None = None) -> None:
        if ws.is_open():
            ws.update(timeout=timeout)
        if ws.peek_stdout():
            data = ws.read_stdout()
            if on_stdout is not None:
                on_stdout(data)
            else:
                out += data
                del out[:-65536]  # keep a tail: a restore's stdout can be long
        if ws.peek_stderr():
            err += ws.read_stderr()
            del err[:-4 * 1024 * 1024]
        if ws.peek_channel(ERROR_CHANNEL):
            status += ws.read_channel(ERROR_CHANNEL)
        # No read_all() here: every peek above calls update() and may receive more frames, which
        # read_all() would drop unseen (stdout of a dump, or the stderr line of a failed restore).


def _owned_by(obj: dict, kind: str, name: str) -> bool:
    return any(o.get("kind") == kind and o.get("name") == name for o in obj["metadata"].get("ownerReferences") or [])


def _finished(job: dict) -> bool:
    return any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
               for c in (job.get("status") or {}).get("conditions") or [])


def _exit_code(status: bytes) -> int | None:
    """The exit code from the exec's Status (channel 3); None if the command never reported one."""
    if not status:
        return None
    try:
        body = json.loads(status)
    except ValueError:
        return None
    if body.get("status") == "Success":
        return 0
    for cause in (body.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            return int(cause["message"])
    return None
