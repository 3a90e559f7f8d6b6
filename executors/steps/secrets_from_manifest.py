"""secrets-from-manifest: replace the operator's new secrets with the backup's."""

from __future__ import annotations

import base64

from pgrestore.errors import StepFailed

from ..context import Context
from .verify_backup import load_manifest


def run(step: dict, ctx: Context) -> dict:
    load_manifest(ctx)
    wanted = {o["name"] for o in ctx.prior_of_kind("Secret")}
    secrets = [s for s in ctx.manifest if s.name in wanted]
    if {s.name for s in secrets} != wanted:
        raise StepFailed(f"manifest lacks secret(s) {', '.join(sorted(wanted - {s.name for s in secrets}))}")
    for s in secrets:
        ctx.kube.delete_secret(ctx.ns, s.name)
        # No ownerReferences: one pointing at the deleted resource would get the secret garbage-collected.
        ctx.kube.create_secret(ctx.ns, {
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": s.name, "namespace": ctx.ns, "labels": s.labels},
            "data": {"username": base64.b64encode(s.username.encode()).decode(),
                     "password": base64.b64encode(s.password.encode()).decode()},
        })
    return {"secrets": sorted(s.name for s in secrets)}
