"""The Spilo StatefulSet the operator makes for a cluster (postgres-operator v1.8.2 k8sres.go, trimmed)."""

from __future__ import annotations

from kubernetes import client

from .credentials import secret_name
from .kube import Api, is_conflict, is_not_found

SPILO_IMAGE = "artifactory.algol60.net/csm-docker/stable/spilo:2.1-p7-14"


def spilo_selector(cluster: str) -> str:
    return f"application=spilo,cluster-name={cluster}"


def read(api: Api, ns: str, name: str) -> client.V1StatefulSet | None:
    try:
        return api.apps.read_namespaced_stateful_set(name, ns)
    except client.ApiException as e:
        if is_not_found(e):
            return None
        raise


def create(api: Api, ns: str, name: str, spec: dict) -> client.V1StatefulSet:
    labels = {"application": "spilo", "cluster-name": name, "team": spec.get("teamId", "")}
    env = [
        client.V1EnvVar(name=var, value_from=client.V1EnvVarSource(
            secret_key_ref=client.V1SecretKeySelector(name=secret_name(user, name), key="password")))
        for var, user in (("PGPASSWORD_SUPERUSER", "postgres"), ("PGPASSWORD_STANDBY", "standby"))
    ]
    sts = client.V1StatefulSet(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1StatefulSetSpec(
            replicas=int(spec.get("numberOfInstances", 1)),
            service_name=name,
            pod_management_policy="OrderedReady",  # CSM: pod_management_policy: ordered_ready
            selector=client.V1LabelSelector(match_labels={"application": "spilo", "cluster-name": name}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(
                    termination_grace_period_seconds=300,  # the operator's pod_terminate_grace_period (5m)
                    containers=[client.V1Container(name="postgres", image=SPILO_IMAGE, env=env)],
                ),
            ),
        ),
    )
    try:
        return api.apps.create_namespaced_stateful_set(ns, sts)
    except client.ApiException as e:
        if is_conflict(e):  # the old one is still being removed, or it raced us
            return api.apps.read_namespaced_stateful_set(name, ns)
        raise


def scale(api: Api, ns: str, name: str, replicas: int) -> None:
    api.apps.patch_namespaced_stateful_set_scale(name, ns, {"spec": {"replicas": replicas}})


def delete_orphaning_pods(api: Api, ns: str, name: str) -> None:
    """The operator deletes the StatefulSet with Orphan propagation and then the pods itself
    (v1.8.2 pkg/cluster/cluster.go deleteOptions, resources.go deleteStatefulSet)."""
    try:
        api.apps.delete_namespaced_stateful_set(name, ns, body=client.V1DeleteOptions(propagation_policy="Orphan"))
    except client.ApiException as e:
        if not is_not_found(e):
            raise
