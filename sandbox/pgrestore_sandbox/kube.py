"""Kubernetes API clients for the sandbox's own agents (operator, node agent), and reading what they return."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from kubernetes import client, config

from .errors import SandboxError

CRD_GROUP, CRD_VERSION, CRD_PLURAL = "acid.zalan.do", "v1", "postgresqls"


@dataclass
class Api:
    core: client.CoreV1Api
    apps: client.AppsV1Api
    batch: client.BatchV1Api
    custom: client.CustomObjectsApi
    ext: client.ApiextensionsV1Api
    coordination: client.CoordinationV1Api

    @classmethod
    def from_kubeconfig(cls, path: Path) -> "Api":
        api_client = config.new_client_from_config(config_file=str(path))
        return cls(
            core=client.CoreV1Api(api_client),
            apps=client.AppsV1Api(api_client),
            batch=client.BatchV1Api(api_client),
            custom=client.CustomObjectsApi(api_client),
            ext=client.ApiextensionsV1Api(api_client),
            coordination=client.CoordinationV1Api(api_client),
        )


def is_not_found(e: Exception) -> bool:
    return isinstance(e, client.ApiException) and e.status == 404


def is_conflict(e: Exception) -> bool:
    return isinstance(e, client.ApiException) and e.status == 409


# -- reading what the API returns -------------------------------------------
# The generated models make every field optional, as a client may send a partial object; what
# the apiserver returns always has an object's metadata (with name, uid, and namespace when
# namespaced), spec and status. These read them, and say so if one is missing after all.
T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class _HasMeta(Protocol):
    @property
    def metadata(self) -> client.V1ObjectMeta | None: ...


class _HasSpec(Protocol[T_co]):
    @property
    def spec(self) -> T_co | None: ...


class _HasStatus(Protocol[T_co]):
    @property
    def status(self) -> T_co | None: ...


def required(value: T | None, what: str) -> T:
    if value is None:
        raise SandboxError(f"the Kubernetes API returned no {what}")
    return value


def meta(obj: _HasMeta) -> client.V1ObjectMeta:
    return required(obj.metadata, f"metadata for a {type(obj).__name__}")


def spec_of(obj: _HasSpec[T]) -> T:
    return required(obj.spec, f"spec for a {type(obj).__name__}")


def status_of(obj: _HasStatus[T]) -> T:
    return required(obj.status, f"status for a {type(obj).__name__}")


def name_of(obj: _HasMeta) -> str:
    return required(meta(obj).name, f"name for a {type(obj).__name__}")


def namespace_of(obj: _HasMeta) -> str:
    """Of a namespaced object (a cluster-scoped one has none)."""
    return required(meta(obj).namespace, f"namespace for {type(obj).__name__} {meta(obj).name}")


def uid_of(obj: _HasMeta) -> str:
    return required(meta(obj).uid, f"uid for {type(obj).__name__} {meta(obj).name}")


def as_dict(obj: object) -> dict[str, Any]:
    """A custom object (or list of them) as CustomObjectsApi returns it: parsed JSON, which it types `object`."""
    if not isinstance(obj, dict):
        raise SandboxError(f"the Kubernetes API returned a {type(obj).__name__} for a custom object")
    return obj
