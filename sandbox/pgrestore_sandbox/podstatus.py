"""Pod status bodies as a kubelet (or the scheduler) would write them."""

from __future__ import annotations

from datetime import datetime, timezone

from kubernetes import client

from .kube import spec_of, status_of


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_ready(pod: client.V1Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in status_of(pod).conditions or [])


def phase_and_ready(pod: client.V1Pod) -> tuple[str | None, bool]:
    return status_of(pod).phase, is_ready(pod)


def _conditions(ready: bool) -> list[dict]:
    stamp, flag = now(), "True" if ready else "False"
    return [
        {"type": "Initialized", "status": "True", "lastTransitionTime": stamp},
        {"type": "Ready", "status": flag, "lastTransitionTime": stamp},
        {"type": "ContainersReady", "status": flag, "lastTransitionTime": stamp},
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": stamp},
    ]


def _base(pod: client.V1Pod) -> dict:
    start_time = status_of(pod).start_time
    start = start_time.strftime("%Y-%m-%dT%H:%M:%SZ") if start_time else now()
    return {"hostIP": "127.0.0.1", "podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}],
            "startTime": start, "qosClass": "BestEffort"}


def _container(c: client.V1Container, ready: bool, state: dict) -> dict:
    return {"name": c.name, "image": c.image, "imageID": f"sandbox://{c.image}",
            "containerID": f"sandbox://{c.name}", "ready": ready, "started": "running" in state,
            "restartCount": 0, "state": state}


def running(pod: client.V1Pod, ready: bool) -> dict:
    state = {"running": {"startedAt": _base(pod)["startTime"]}}
    return {**_base(pod), "phase": "Running", "conditions": _conditions(ready),
            "containerStatuses": [_container(c, ready, state) for c in spec_of(pod).containers]}


def waiting(pod: client.V1Pod, message: str) -> dict:
    state = {"waiting": {"reason": "CreateContainerConfigError", "message": message}}
    return {**_base(pod), "phase": "Pending", "conditions": _conditions(False),
            "containerStatuses": [_container(c, False, state) for c in spec_of(pod).containers]}


def finished(pod: client.V1Pod) -> dict:
    state = {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": _base(pod)["startTime"],
                            "finishedAt": now()}}
    return {**_base(pod), "phase": "Succeeded", "conditions": _conditions(False),
            "containerStatuses": [_container(c, False, state) for c in spec_of(pod).containers]}


def failed(pod: client.V1Pod, exit_code: int, message: str = "") -> dict:
    """A container that exited non-zero under restartPolicy Never: the pod is Failed."""
    state = {"terminated": {"exitCode": exit_code, "reason": "Error", "message": message,
                            "startedAt": _base(pod)["startTime"], "finishedAt": now()}}
    return {**_base(pod), "phase": "Failed", "conditions": _conditions(False),
            "containerStatuses": [_container(c, False, state) for c in spec_of(pod).containers]}


def unschedulable(message: str) -> dict:
    """What the scheduler writes on a pod it cannot place yet; the pod stays Pending, unbound."""
    return {"phase": "Pending", "conditions": [{
        "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
        "lastTransitionTime": now()}]}


def unschedulable_message(pod: client.V1Pod) -> str | None:
    for c in status_of(pod).conditions or []:
        if c.type == "PodScheduled" and c.status == "False":
            return c.message
    return None
