"""secrets-from-manifest: put a manifest's credential secrets in place of the cluster's new ones
(the backup's after a restore; the safety dump's in a rollback).

Replaced in place rather than deleted and re-created: the operator's periodic sync
(v1.8.2 syncSecrets, every resync period) creates any missing credential secret with a
new random password, and could do so between a delete and a create.
"""

from __future__ import annotations

import base64
from typing import cast

from pgrestore.contract.model import Location, Step, from_dict
from pgrestore.contract.params import SecretsFromManifestParams
from pgrestore.errors import StepFailed

from ..context import Context
from ..support import manifest as manifest_files


def run(step: Step, ctx: Context) -> dict:
    ns, p = step.target.namespace, cast(SecretsFromManifestParams, step.params)
    checked = ctx.journal.observed(p["verified_by"]).get("manifest_sha256")
    if not checked:
        raise StepFailed(f"step {p['verified_by']} checked no manifest; re-plan")
    wanted = set(p["secrets"])
    found = manifest_files.load_checked(ctx, from_dict(Location, p["manifest"]), checked)
    secrets = [s for s in found if s.name in wanted]
    if {s.name for s in secrets} != wanted:
        raise StepFailed(f"manifest lacks secret(s) {', '.join(sorted(wanted - {s.name for s in secrets}))}")
    for s in secrets:
        # No ownerReferences: one pointing at the deleted resource would get the secret garbage-collected.
        ctx.kube.put_secret(ns, {
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": s.name, "namespace": ns, "labels": s.labels},
            "data": {"username": base64.b64encode(s.username.encode()).decode(),
                     "password": base64.b64encode(s.password.encode()).decode()},
        })
    return {"secrets": sorted(s.name for s in secrets)}
