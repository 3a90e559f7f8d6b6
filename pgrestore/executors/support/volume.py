"""What safety-volume and restore-volume share: the running client pod to exec `tar` in."""

from __future__ import annotations

from typing import cast

from pgrestore.contract.model import Step
from pgrestore.contract.params import RestoreVolumeParams, SafetyVolumeParams
from pgrestore.core import pods

from ..context import Context


def ready_pod(step: Step, ctx: Context) -> str:
    """A Ready pod of the client (waited for: after a scale-up it may still be starting)."""
    t, p = step.target, cast(SafetyVolumeParams | RestoreVolumeParams, step.params)
    found = ctx.kube.wait_pods(t.namespace, p["pod_selector"],
                               lambda ps: any(pods.ready(p) for p in pods.live(ps)),
                               f"a Ready pod of {t.kind.lower()} {t.name}", ctx.remaining())
    return pods.name(next(p for p in pods.live(found) if pods.ready(p)))


def first_error(stderr: str, returncode: int | None) -> str:
    return next((line for line in stderr.splitlines() if line.strip()), f"exit {returncode}")
