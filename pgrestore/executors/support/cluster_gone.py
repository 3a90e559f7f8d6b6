"""Waiting for a deleted cluster to be gone, with what the operator deletes after it (delete-cluster,
ensure-cluster)."""

from __future__ import annotations

from ..context import Context


def wait_gone(ctx: Context, ns: str, name: str, *, pod_selector: str, secrets: list[str]) -> None:
    ctx.kube.wait_postgresql(ns, name, lambda pg: pg is None, f"postgresql {name} to be gone", ctx.remaining())
    # The operator deletes its StatefulSet with Orphan propagation (v1.8.2 resources.go deleteStatefulSet):
    # it lingers until the garbage collector has orphaned the pods, and a Create meanwhile fails with
    # "statefulset already exists" (CreateFailed). Slow on a loaded control plane, so it is waited for.
    ctx.kube.wait_workload_gone("StatefulSet", ns, name, f"statefulset {name} to be gone", ctx.remaining())
    ctx.kube.wait_pods(ns, pod_selector, lambda pods: not pods, f"pods of {name} to be gone", ctx.remaining())
    names = set(secrets)
    ctx.kube.wait_secrets(ns, f"cluster-name={name}", lambda found: not names & {s["metadata"]["name"] for s in found},
                          f"credential secrets of {name} to be deleted", ctx.remaining())
