"""Kubernetes API clients for the sandbox's own agents (operator, node agent)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kubernetes import client, config

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
