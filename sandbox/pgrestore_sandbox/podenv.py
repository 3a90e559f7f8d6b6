"""Resolve a container's env the way a kubelet does, including secretKeyRef and fieldRef."""

from __future__ import annotations

import base64

from kubernetes import client

from .kube import meta, namespace_of, required, spec_of, status_of


class MissingSecret(Exception):
    """A non-optional secretKeyRef points at a Secret or key that does not exist."""


class SecretCache:
    """One pass's view of Secrets, so a pass reads each Secret once."""

    def __init__(self, core: client.CoreV1Api):
        self.core = core
        self._seen: dict[tuple[str, str], dict[str, bytes | str] | None] = {}  # a Secret's data; None: no such Secret

    def value(self, ns: str, name: str, key: str) -> str | None:
        if (ns, name) not in self._seen:
            try:
                self._seen[(ns, name)] = self.core.read_namespaced_secret(name, ns).data or {}
            except client.ApiException as e:
                if e.status != 404:
                    raise
                self._seen[(ns, name)] = None
        data = self._seen[(ns, name)]
        if data is None or key not in data:
            return None
        return base64.b64decode(data[key]).decode()


def container_env(pod: client.V1Pod, container: client.V1Container, secrets: SecretCache) -> dict[str, str]:
    env = {}
    for var in container.env or []:
        if var.value is not None:
            env[var.name] = var.value
            continue
        field = var.value_from.field_ref if var.value_from else None
        if field is not None:
            if (value := _field(pod, field.field_path)) is not None:
                env[var.name] = value
            continue
        ref = var.value_from.secret_key_ref if var.value_from else None
        if ref is None:
            continue
        value = secrets.value(namespace_of(pod), required(ref.name, "secretKeyRef name"), ref.key)
        if value is None:
            if ref.optional:
                continue
            raise MissingSecret(f'secret "{ref.name}" or its key "{ref.key}" not found')
        env[var.name] = value
    return env


def _field(pod: client.V1Pod, path: str) -> str | None:
    """The downward API's fieldRef paths a kubelet resolves (the ones the sandbox's pods use)."""
    md, spec, status = meta(pod), spec_of(pod), status_of(pod)
    return {"metadata.namespace": md.namespace, "metadata.name": md.name, "metadata.uid": md.uid,
            "spec.nodeName": spec.node_name, "spec.serviceAccountName": spec.service_account_name,
            "status.podIP": status.pod_ip, "status.hostIP": status.host_ip}.get(path)
