"""The Kubernetes adapter: the official client behind a small surface of our own.

Objects come back as plain JSON-shaped dicts (camelCase, as `kubectl get -o json`),
so plans and journals can hold them as they are. Library errors become ours.
"""

from __future__ import annotations

import json
import os
import random
import select
import ssl
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, TypeVar

import yaml
from kubernetes import client, config, watch
from kubernetes.stream import stream
from urllib3.exceptions import ConnectTimeoutError, HTTPError
from websocket import ABNF, WebSocketConnectionClosedException, WebSocketException

from pgrestore.contract.model import Target
from pgrestore.errors import ConfigError, Conflict, KubernetesError, NotFound, PgRestoreError, StepTimeout, Unreachable

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


def _ours(what: str, e: BaseException, attempts: int = 1) -> PgRestoreError:
    """A library error as ours, one line naming the thing."""
    tried = f" (tried {attempts} times)" if attempts > 1 else ""
    if isinstance(e, client.ApiException):
        if e.status == 404:
            return NotFound(f"{what}: not found")
        if e.status == 409:
            return Conflict(f"{what}: conflict (exists already, or changed since read)")
        if e.status == 0:  # the client's own failure: TLS, or a websocket that could not be opened
            detail = (e.reason or "error").splitlines()[0][:160]
            return KubernetesError(f"{what}: the connection to the API server failed ({detail}){tried}")
        return KubernetesError(f"{what}: the API server answered {e.status} {e.reason or 'error'}{tried}")
    if isinstance(e, WebSocketException):
        return KubernetesError(f"{what}: the exec stream broke ({type(e).__name__})")
    return Unreachable(f"{what}: cannot reach the API server ({type(e).__name__}){tried}; check the kubeconfig's "
                       f"server and the network")


@contextmanager
def _translated(what: str):
    try:
        yield
    except (client.ApiException, WebSocketException, HTTPError, OSError) as e:
        raise _ours(what, e) from None


# -- retries ------------------------------------------------------------------------------------------------
# A call is retried only when sending it again cannot do anything the first one did not:
# - any call the server refused before acting on it (429 from API Priority and Fairness), or that
#   never left this machine (the connection could not be opened);
# - a read (GET, LIST, WATCH) or an idempotent write (a merge patch of absolute values, an unconditional
#   replace) also after a 500/502/503/504, a reset connection, a cut answer or a read timeout.
# Creates, deletes and resourceVersion-conditional replaces are never re-sent once they may have
# reached the server: their effect is unknown, and the step fails (and the plan's rollback runs).
# Exec is never retried: a command may have run part-way.
RETRY_STATUSES = frozenset({500, 502, 503, 504})
ATTEMPTS = 5  # per call: the first and up to 4 more
BACKOFF_FIRST, BACKOFF_CAP, RETRY_AFTER_CAP = 0.5, 4.0, 10.0
# Every call but a watch and an exec: (connect, read) seconds. The API server answers or gives up (504)
# within its --request-timeout (60 s), so a read that says nothing for longer is a dropped connection.
REQUEST_TIMEOUT = (10, 75)
T = TypeVar("T")


def _retry_after(e: BaseException) -> float | None:
    value = (getattr(e, "headers", None) or {}).get("Retry-After")
    try:
        return min(RETRY_AFTER_CAP, max(0.0, float(value))) if value is not None else None
    except ValueError:  # an HTTP date: take our own backoff
        return None


def _retryable(e: BaseException, resend_safe: bool) -> bool:
    if isinstance(e, client.ApiException):
        if e.status == 429:
            return True
        if e.status == 0 and "certificate" in (e.reason or "").lower():
            return False  # TLS that will fail the same way again: a CA or name that does not match
        return resend_safe and (e.status in RETRY_STATUSES or e.status == 0)
    if isinstance(e, ConnectTimeoutError):  # includes NewConnectionError: nothing was sent
        return True
    return resend_safe and isinstance(e, (HTTPError, OSError))


def backoff(attempt: int, e: BaseException | None = None) -> float:
    """Seconds before retry number `attempt` (1, 2, ...): what the server asked for (Retry-After, capped),
    else exponential from BACKOFF_FIRST to BACKOFF_CAP with jitter (half to all of it)."""
    hinted = _retry_after(e) if e is not None else None
    if hinted is not None:
        return hinted
    step = min(BACKOFF_CAP, BACKOFF_FIRST * 2 ** (attempt - 1))
    return step / 2 + random.uniform(0, step / 2)


def _call(what: str, fn: Callable[[], T], resend_safe: bool = True) -> T:
    """fn(), retried by the policy above; its failure as ours."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return fn()
        except (client.ApiException, HTTPError, OSError) as e:
            if attempt == ATTEMPTS or not _retryable(e, resend_safe):
                raise _ours(what, e, attempt) from None
            time.sleep(backoff(attempt, e))
    raise AssertionError("unreachable")


def _optional(what: str, read: Callable[[], Any], resend_safe: bool = True) -> Any:
    """read(), or None if the object does not exist."""
    try:
        return _call(what, read, resend_safe)
    except NotFound:
        return None


def _in_cluster(kubeconfig: str | None) -> bool:
    """In a pod (an in-cluster apply's Job) with no kubeconfig: its ServiceAccount, as kubectl does."""
    return (kubeconfig is None and "KUBERNETES_SERVICE_HOST" in os.environ
            and not os.path.exists(os.path.expanduser(config.KUBE_CONFIG_DEFAULT_LOCATION)))


def _load_in_cluster(configuration: Any) -> None:
    try:
        config.load_incluster_config(client_configuration=configuration)
    except (config.ConfigException, OSError, ValueError) as e:
        detail = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        raise ConfigError(f"cannot use this pod's ServiceAccount ({detail}); mount its token (automountService"
                          f"AccountToken) or pass --kubeconfig") from None


def _load_kubeconfig(configuration: Any, kubeconfig: str | None, context: str | None) -> None:
    try:
        config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)
    except (config.ConfigException, OSError, ValueError, TypeError, AttributeError, yaml.YAMLError) as e:
        where = kubeconfig or "~/.kube/config"
        # The library repeats the file's path inside its message ("… in /path/kubeconfig/contexts"):
        # the line names the file once, so the detail keeps what is wrong in it.
        text = str(e).replace(f"{kubeconfig}/", "") if kubeconfig else str(e)
        detail = text.splitlines()[0][:160] if text else type(e).__name__
        raise ConfigError(f"cannot use kubeconfig {where} ({detail}); set KUBECONFIG or pass --kubeconfig") \
            from None


class Kube:
    def __init__(self, kubeconfig: str | None = None, context: str | None = None):
        configuration: Any = type.__call__(client.Configuration)  # a fresh one, not the process default
        if _in_cluster(kubeconfig):
            _load_in_cluster(configuration)
        else:
            _load_kubeconfig(configuration, kubeconfig, context)
        if not str(configuration.host or "").startswith(("https://", "http://")):
            raise ConfigError(f"cannot use kubeconfig {kubeconfig or '~/.kube/config'}: its server "
                              f"{configuration.host!r} is not a URL; fix the cluster's server entry")
        # No silent retries underneath (urllib3 re-sends a PUT or DELETE whose answer was lost):
        # every retry is this adapter's, by its policy.
        configuration.retries = False
        self.api_client = client.ApiClient(configuration)
        rest: Any = self.api_client.rest_client
        send = rest.request

        def request(*args, **kwargs):
            kwargs["_request_timeout"] = kwargs.get("_request_timeout") or REQUEST_TIMEOUT
            return send(*args, **kwargs)
        rest.request = request
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
        uid = _call("namespace kube-system", lambda: self.core.read_namespace("kube-system")).metadata.uid
        return {"server": self.api_client.configuration.host, "kube_system_uid": uid}

    def can_i(self, verb: str, group: str, resource: str, namespace: str, subresource: str = "") -> bool:
        """Whether this kubeconfig's user may `verb` the resource (SelfSubjectAccessReview); namespace "" is
        cluster-wide."""
        attrs = {"verb": verb, "group": group, "resource": resource, "subresource": subresource,
                 "namespace": namespace}
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": attrs}}
        what = f"access review: {verb} {resource}{'/' + subresource if subresource else ''} in {namespace or 'all'}"
        api: Any = client.AuthorizationV1Api(self.api_client)
        review = _call(what, lambda: api.create_self_subject_access_review(body))
        return bool(self._dict(review).get("status", {}).get("allowed"))

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
        listing = _call(f"{kind.lower()}s {selector} in {ns}",
                        lambda: self._apps_fn(kind, "list")(ns, label_selector=selector))
        return [self._dict(w) for w in listing.items]

    def _apps_fn(self, kind: str, verb: str) -> Callable:
        suffix = {"StatefulSet": "stateful_set", "Deployment": "deployment", "DaemonSet": "daemon_set"}[kind]
        return getattr(self.apps, f"{verb}_namespaced_{suffix}")

    def get_workload(self, kind: str, ns: str, name: str) -> dict:
        return self._dict(_call(f"{kind.lower()} {ns}/{name}", lambda: self._apps_fn(kind, "read")(name, ns)))

    def scale(self, kind: str, ns: str, name: str, replicas: int) -> None:
        # An absolute value: sent again after a lost answer, it changes nothing the first did not.
        _call(f"scale {kind.lower()} {ns}/{name}",
              lambda: self._apps_fn(kind, "patch")(name, ns, {"spec": {"replicas": replicas}}))

    def rollout_restart(self, kind: str, ns: str, name: str) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}}}
        # The same stamp if sent again: a second rollout is never started by a retry.
        _call(f"rollout restart {kind.lower()} {ns}/{name}", lambda: self._apps_fn(kind, "patch")(name, ns, body))

    # -- nodes ----------------------------------------------------------------
    def list_node_names(self) -> list[str]:
        """The cluster's nodes (on CSM: the master and worker NCNs), for host steps."""
        listing = _call("nodes", lambda: self.core.list_node())
        return sorted(n.metadata.name for n in listing.items)

    # -- pods -----------------------------------------------------------------
    def list_pods(self, ns: str, selector: str) -> list[dict]:
        listing = _call(f"pods {selector} in {ns}", lambda: self.core.list_namespaced_pod(ns, label_selector=selector))
        return [self._dict(p) for p in listing.items]

    def delete_pod(self, ns: str, name: str) -> None:
        # Never re-sent: a StatefulSet's new pod has the same name, and a second delete would hit it.
        _call(f"pod {ns}/{name}", lambda: self.core.delete_namespaced_pod(name, ns), resend_safe=False)

    # -- postgresql resources --------------------------------------------------
    def get_postgresql(self, ns: str, name: str) -> dict | None:
        return _optional(f"postgresql {ns}/{name}",
                         lambda: self.custom.get_namespaced_custom_object(PG_GROUP, PG_VERSION, ns, PG_PLURAL, name))

    def create_postgresql(self, body: dict) -> dict:
        meta = body["metadata"]
        return _call(f"create postgresql {meta['namespace']}/{meta['name']}",
                     lambda: self.custom.create_namespaced_custom_object(PG_GROUP, PG_VERSION, meta["namespace"],
                                                                         PG_PLURAL, body), resend_safe=False)

    def delete_postgresql(self, ns: str, name: str) -> None:
        _call(f"delete postgresql {ns}/{name}",
              lambda: self.custom.delete_namespaced_custom_object(PG_GROUP, PG_VERSION, ns, PG_PLURAL, name),
              resend_safe=False)

    def set_instances(self, ns: str, name: str, n: int) -> None:
        _call(f"patch postgresql {ns}/{name}", lambda: self.custom.patch_namespaced_custom_object(
            PG_GROUP, PG_VERSION, ns, PG_PLURAL, name, {"spec": {"numberOfInstances": n}}))

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

    def list_cronjobs(self, ns: str) -> list[dict]:
        found = _call(f"cronjobs in {ns}", lambda: self.custom.list_namespaced_custom_object(
            "batch", self.cronjob_version(), ns, "cronjobs"))
        return list(found.get("items") or [])

    def get_cronjob(self, ns: str, name: str) -> dict | None:
        return _optional(f"cronjob {ns}/{name}", lambda: self.custom.get_namespaced_custom_object(
            "batch", self.cronjob_version(), ns, "cronjobs", name))

    def suspend_cronjob(self, ns: str, name: str, suspend: bool) -> None:
        version = self.cronjob_version()
        _call(f"patch cronjob {ns}/{name}", lambda: self.custom.patch_namespaced_custom_object(
            "batch", version, ns, "cronjobs", name, {"spec": {"suspend": suspend}}))

    def wait_jobs_of_cronjob_finished(self, ns: str, cronjob: str, what: str, timeout: float) -> None:
        def active(items: list[dict]) -> bool:
            return not any(_owned_by(j, "CronJob", cronjob) and not _finished(j) for j in items)
        self._wait(self.batch.list_namespaced_job, (ns,), {}, active, what, timeout)

    # -- secrets ----------------------------------------------------------------
    def list_secrets(self, ns: str, selector: str) -> list[dict]:
        listing = _call(f"secrets {selector} in {ns}",
                        lambda: self.core.list_namespaced_secret(ns, label_selector=selector))
        return [self._dict(s) for s in listing.items]

    def read_secret(self, ns: str, name: str) -> dict | None:
        return self._dict(_optional(f"secret {ns}/{name}",
                                    lambda: self.core.read_namespaced_secret(name, ns)))

    def delete_secret(self, ns: str, name: str) -> None:
        _optional(f"delete secret {ns}/{name}", lambda: self.core.delete_namespaced_secret(name, ns), resend_safe=False)

    def create_secret(self, ns: str, body: dict) -> None:
        _call(f"create secret {ns}/{body['metadata']['name']}", lambda: self.core.create_namespaced_secret(ns, body),
              resend_safe=False)

    def put_secret(self, ns: str, body: dict) -> None:
        """Create or replace a secret in one call each way, never leaving a window without it."""
        name = body["metadata"]["name"]

        def replace() -> None:  # unconditional (no resourceVersion): the same secret however often it is sent
            _call(f"replace secret {ns}/{name}", lambda: self.core.replace_namespaced_secret(name, ns, body))
        try:
            return replace()
        except NotFound:
            pass
        try:
            self.create_secret(ns, body)
        except Conflict:  # created meanwhile (the operator's sync): replace that one
            replace()

    # -- jobs -------------------------------------------------------------------
    def list_jobs(self, ns: str, selector: str) -> list[dict]:
        listing = _call(f"jobs {selector} in {ns}", lambda: self.batch.list_namespaced_job(ns, label_selector=selector))
        return [self._dict(j) for j in listing.items]

    def get_job(self, ns: str, name: str) -> dict:
        return self._dict(_call(f"job {ns}/{name}", lambda: self.batch.read_namespaced_job(name, ns)))

    def delete_job(self, ns: str, name: str) -> None:
        _optional(f"delete job {ns}/{name}", lambda: self.batch.delete_namespaced_job(
            name, ns, body=client.V1DeleteOptions(propagation_policy="Foreground")), resend_safe=False)

    def create_job(self, ns: str, body: dict) -> None:
        _call(f"create job {ns}/{body['metadata']['name']}", lambda: self.batch.create_namespaced_job(ns, body),
              resend_safe=False)

    # -- leases and config maps ---------------------------------------------------
    def get_lease(self, ns: str, name: str) -> dict | None:
        return self._dict(_optional(f"lease {ns}/{name}",
                                    lambda: self.coordination.read_namespaced_lease(name, ns)))

    def create_lease(self, ns: str, body: dict) -> bool:
        """False if someone else created it first."""
        try:
            _call(f"create lease {ns}/{body['metadata']['name']}",
                  lambda: self.coordination.create_namespaced_lease(ns, body), resend_safe=False)
            return True
        except Conflict:
            return False

    def replace_lease(self, ns: str, body: dict) -> bool:
        """False if the lease changed since it was read (resourceVersion conflict)."""
        try:
            # Conditional on resourceVersion: sent again after it landed, it would conflict with itself.
            _call(f"update lease {ns}/{body['metadata']['name']}",
                  lambda: self.coordination.replace_namespaced_lease(body["metadata"]["name"], ns, body),
                  resend_safe=False)
            return True
        except Conflict:
            return False

    def delete_lease(self, ns: str, name: str) -> None:
        _optional(f"delete lease {ns}/{name}", lambda: self.coordination.delete_namespaced_lease(name, ns),
                  resend_safe=False)

    def upsert_configmap(self, ns: str, name: str, data: dict[str, str], labels: dict | None = None) -> None:
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels or {}},
                "data": data}
        try:  # unconditional: the same content however often it is sent
            _call(f"configmap {ns}/{name}", lambda: self.core.replace_namespaced_config_map(name, ns, body))
        except NotFound:
            _call(f"create configmap {ns}/{name}", lambda: self.core.create_namespaced_config_map(ns, body),
                  resend_safe=False)

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

    def wait_workload_gone(self, kind: str, ns: str, name: str, what: str, timeout: float) -> None:
        self._wait(self._apps_fn(kind, "list"), (ns,), {"field_selector": f"metadata.name={name}"},
                   lambda items: not items, what, timeout)

    def _wait(self, list_fn, args, kwargs, done, what: str, timeout: float) -> list[dict]:
        """List, check, then watch from that resourceVersion; list and check again on each event.

        The list is retried as any read. A watch that breaks (a reset, a cut stream, 5xx, 429, a read
        timeout) is opened again from the same resourceVersion after a backoff, so nothing in between
        is missed and nothing is listed again; after ATTEMPTS breaks in a row the wait fails. A 410 Gone
        (that version was compacted away) lists afresh. The wait's deadline bounds all of it."""
        deadline = time.monotonic() + timeout
        relist, broken, early = True, 0, 0
        items: list[dict] = []
        rv = ""
        while True:
            if relist:
                items, rv = self._items(_call(what, lambda: list_fn(*args, **kwargs)))
                if done(items):
                    return items
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(f"timed out after {timeout:.0f}s waiting for {what}")
            try:
                relist = self._changed(list_fn, args, kwargs, rv, remaining)
                broken = 0
            except client.ApiException as e:
                if e.status != 410:
                    broken = self._broken(what, e, broken, deadline)
                relist = e.status == 410
                continue
            except (HTTPError, OSError) as e:
                broken = self._broken(what, e, broken, deadline)
                relist = False
                continue
            if relist:
                early = 0
            elif deadline - time.monotonic() > 1:  # ended early, quietly (an API server going away): resume
                early += 1
                time.sleep(min(backoff(early), max(0.0, deadline - time.monotonic())))

    @staticmethod
    def _changed(list_fn, args, kwargs, rv: str, remaining: float) -> bool:
        """Watch from rv until the first event (True) or the end of the stream (False)."""
        # The server ends the watch at timeout_seconds; the read timeout only catches a connection
        # that went silent without closing.
        for _event in watch.Watch().stream(list_fn, *args, resource_version=rv,
                                           timeout_seconds=max(1, int(remaining)),
                                           _request_timeout=(REQUEST_TIMEOUT[0], remaining + 15), **kwargs):
            return True
        return False

    @staticmethod
    def _broken(what: str, e: BaseException, broken: int, deadline: float) -> int:
        """One more break of a watch in a row: wait before resuming, or fail the wait."""
        broken += 1
        if broken >= ATTEMPTS or not _retryable(e, resend_safe=True):
            raise _ours(what, e, broken) from None
        time.sleep(min(backoff(broken, e), max(0.0, deadline - time.monotonic())))
        return broken

    def _items(self, listing) -> tuple[list[dict], str]:
        if isinstance(listing, dict):
            return listing.get("items", []), listing["metadata"]["resourceVersion"]
        return [self._dict(i) for i in listing.items], listing.metadata.resource_version

    # -- exec -------------------------------------------------------------------------
    def exec(self, ns: str, pod: str, container: str, argv: list[str], stdin: Iterable[bytes] | None = None,
             stdin_end: bytes = b"", deadline: float | None = None,
             on_stdout: Callable[[bytes], None] | None = None,
             on_stdin_sent: Callable[[int], None] | None = None) -> ExecResult:
        """Run a command in a pod, streaming stdin and draining output as it goes.

        Over v5 stdin is closed at the end; over v4 (CSM's kubelets) it cannot be, so the
        caller passes `stdin_end` (e.g. psql's \\q) for the command to end by itself.
        `deadline` (time.monotonic()) bounds the whole exec: past it the stream is closed
        and StepTimeout raised, so a hung stream fails its step instead of hanging apply.
        `on_stdout` receives stdout as it arrives (a dump streamed out), instead of keeping a tail;
        `on_stdin_sent` the size of each stdin frame once it is sent (a restore's progress).
        Memory is bounded by a constant whatever the command writes or reads (one frame each way,
        the tails kept).
        """
        what = f"exec in pod {ns}/{pod}"
        with _translated(what):
            ws = stream(self.core.connect_get_namespaced_pod_exec, pod, ns, container=container, command=argv,
                        stdin=stdin is not None, stdout=True, stderr=True, tty=False,
                        _preload_content=False, binary=True)
        if getattr(ws, "sock", None) is not None:
            ws.sock.settimeout(STALL_SECONDS)

        def in_time() -> None:
            if deadline is not None and time.monotonic() > deadline:
                raise StepTimeout(f"{what} ({argv[0]}) ran past its step's deadline; the stream was closed")

        output = _ExecOutput(ws.sock, ws.subprotocol == V5, on_stdout, in_time)
        try:
            with _translated(what):
                for chunk in stdin or ():
                    in_time()
                    _send_stdin(ws.sock, chunk, on_stdin_sent)
                    output.drain(timeout=0)
                if stdin is not None:
                    if stdin_end:
                        _send_stdin(ws.sock, stdin_end)
                    if ws.subprotocol == V5:
                        ws.close_channel(0)
                while output.open:
                    in_time()
                    output.drain(timeout=1)
        finally:
            ws.close()
        if not output.status:  # v4 and v5 always end with the command's Status on channel 3
            raise KubernetesError(f"{what} ({argv[0]}): the exec stream was dropped before the command reported how "
                                  f"it ended (API server, kubelet or network); it may have run in part")
        return ExecResult(_exit_code(bytes(output.status)), output.out.decode(errors="replace"),
                          output.err.decode(errors="replace"), ws.subprotocol or "")


# -- exec streams ---------------------------------------------------------------------
# The client's WSClient is used to open the stream (handshake, v4/v5 negotiation, proxy and TLS
# settings) and to close it; its frames are read and written here, directly on its websocket.
# Why not WSClient.update()/peek_stdout()/read_stdout() (kubernetes 37.0.1, ws_client.py): update()
# reads every frame already waiting and appends each to the channel's buffer with `bytes +=`, which is
# quadratic when the pod writes faster than we read (a 106 MB pg_dumpall took 45 s instead of 1 s), and
# it copies every stdout/stderr byte into WSClient._all, which stream() gives no way to turn off
# (kubernetes-client/python #2302, #1013): memory grew with the dump (770 MiB at 425 MB).
STDOUT_TAIL = 64 * 1024  # what is kept of stdout when no on_stdout takes it: a restore's can be long
STDERR_TAIL = 4 * 1024 * 1024  # psql's errors of a restore, judged afterwards
# Stdin goes out in frames of at most this: large enough that a frame's overhead (header, mask key,
# a send, a poll for output) is small, small enough that one masked copy is all a write holds.
STDIN_FRAME = 256 * 1024
STDIN_CHANNEL, STDOUT_CHANNEL, STDERR_CHANNEL, CLOSE_CHANNEL = 0, 1, 2, 255


class _ExecOutput:
    """The command's stdout, stderr and Status (channel 3), read off the websocket frame by frame."""

    def __init__(self, sock: Any, v5: bool, on_stdout: Callable[[bytes], None] | None, in_time: Callable[[], None]):
        self.sock, self.v5, self.on_stdout, self.in_time = sock, v5, on_stdout, in_time
        self.out, self.err, self.status = bytearray(), bytearray(), bytearray()
        self.open = sock is not None and sock.connected

    def drain(self, timeout: float) -> None:
        """Every frame waiting now, after waiting up to `timeout` seconds for the first. The deadline is
        checked between frames: a pod writing faster than we read still stops at it."""
        wait = timeout
        while self.open and self._readable(wait):
            self._frame()
            self.in_time()
            wait = 0

    def _readable(self, timeout: float) -> bool:
        raw = self.sock.sock
        if raw is None:  # closed underneath
            self.open = False
            return False
        # A TLS record may hold the next frames already decrypted, where poll cannot see them.
        if isinstance(raw, ssl.SSLSocket) and raw.pending():
            return True
        poll = select.poll()  # not select(): it fails on descriptors over 1024
        poll.register(raw, select.POLLIN)
        return bool(poll.poll(timeout * 1000))

    def _frame(self) -> None:
        try:
            opcode, frame = self.sock.recv_data_frame(True)
        except WebSocketConnectionClosedException:
            if self.status:  # the Status is the last thing sent: a close lost after it loses nothing
                self.open = False
                return
            raise
        if opcode == ABNF.OPCODE_CLOSE:
            self.open = False
            return
        data = frame.data if opcode in (ABNF.OPCODE_BINARY, ABNF.OPCODE_TEXT) else b""
        if not data:
            return
        channel = data[0]
        if channel == STDOUT_CHANNEL:
            if self.on_stdout is not None:
                self.on_stdout(data[1:])
            else:
                self.out += memoryview(data)[1:]
                del self.out[:-STDOUT_TAIL]
        elif channel == STDERR_CHANNEL:
            self.err += memoryview(data)[1:]
            del self.err[:-STDERR_TAIL]
        elif channel == ERROR_CHANNEL:
            self.status += memoryview(data)[1:]
        # v5's CLOSE (255) of a channel by the server, and anything else, needs nothing from us.


def _send_stdin(sock: Any, data: bytes, on_sent: Callable[[int], None] | None = None) -> None:
    view = memoryview(data)
    for start in range(0, len(view), STDIN_FRAME):
        frame = view[start:start + STDIN_FRAME]
        sock.send_frame(_StdinFrame(b"\x00" + frame))
        if on_sent is not None:
            on_sent(len(frame))


class _StdinFrame(ABNF):
    """A binary frame to the server, masked (RFC 6455 5.3: a fresh random key per frame, as
    websocket-client picks it) by xor_mask instead of websocket-client 1.9's `_mask` (pure Python, and
    41 % of a restore's time in the profile)."""

    def __init__(self, payload: bytes):
        super().__init__(fin=1, opcode=ABNF.OPCODE_BINARY, mask_value=1, data=payload)
        self.payload = payload

    def _get_masked(self, mask_key: str | bytes) -> bytes:
        key = mask_key.encode("latin-1") if isinstance(mask_key, str) else mask_key
        return key + xor_mask(key, self.payload)


_c_mask: Callable[[bytes, bytes], bytes] | None
try:  # websockets' C routine, in its wheels: about 40x faster than the XOR below (0.02 ms for a frame)
    from websockets.speedups import apply_mask as _c_mask
except ImportError:  # a build without it (or a zipapp, which cannot load C extensions)
    _c_mask = None


@lru_cache(maxsize=4)
def _ones_per_word(words: int) -> int:
    """The integer whose little-endian bytes are 01 00 00 00 repeated `words` times."""
    return int.from_bytes(b"\x01\x00\x00\x00" * words, "little")


def xor_mask(key: bytes, data: bytes) -> bytes:
    """data XOR the 4-byte key repeated (RFC 6455 5.3). Without websockets' C routine: key * 0x..00000001
    00000001 is the repeated key as one integer (no carries: each word gets the key once), one
    multiplication by a small number."""
    if _c_mask is not None:
        return _c_mask(data, key)
    n = len(data)
    words = (n + 3) // 4
    mask = int.from_bytes(key, "little") * _ones_per_word(words)
    masked = (int.from_bytes(data, "little") ^ mask).to_bytes(words * 4, "little")
    return masked[:n] if words * 4 != n else masked


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
