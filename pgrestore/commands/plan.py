"""`pgrestore plan`: read the cluster and the backup, write a plan. Changes nothing."""

from __future__ import annotations

import secrets
import sys
from datetime import datetime, timezone
from pathlib import Path

from planner import build_plan
from pgrestore import services, show, snapshot
from pgrestore.adapters.kube import Kube
from pgrestore.errors import UsageError
from pgrestore.plan import render
from pgrestore.snapshot import Snapshot


def take_snapshot(kube: Kube, service: dict, backup: str, dump: Path | None, manifest: Path | None,
                  s3_opts: dict) -> Snapshot:
    cluster = snapshot.read_cluster(kube, service)
    snapshot.require_cluster(cluster, service)
    if dump is not None:
        chosen = snapshot.read_backup_file(dump, manifest)
    else:
        chosen = snapshot.read_backup_s3(snapshot.s3_from_options(kube, s3_opts), service["cluster"], backup)
    return Snapshot(cluster, chosen)


def refuse_while_applying(kube: Kube, service: dict) -> None:
    """A plan made mid-restore would record the half-restored state as the one to return to."""
    from executors.journal import Journal
    from executors.lock import lease_name
    ns, name = service["namespace"], service["name"]
    lease = kube.get_lease(ns, lease_name(name))
    if lease is not None:
        holder = (lease.get("spec") or {}).get("holderIdentity")
        raise UsageError(f"an apply for {name} holds lease {ns}/{lease_name(name)} ({holder}); wait for it, "
                         f"or resume, roll back or force-unlock it, before planning again")
    journal = Journal.in_cluster(kube, ns, name)
    if journal and journal["status"] in ("running", "rolling-back"):
        raise UsageError(f"the last apply for {name} stopped while {journal['status']} (ConfigMap "
                         f"{ns}/pgrestore-journal-{name}); resume it or `pgrestore rollback` its plan first")


def run(service_name: str, backup: str, dump: Path | None, manifest: Path | None, secrets_mode: str | None,
        output: Path | None, detailed_exitcode: bool, kubeconfig: str | None, s3_opts: dict) -> int:
    service = services.load(service_name)
    kube = Kube(kubeconfig)
    refuse_while_applying(kube, service)
    snap = take_snapshot(kube, service, backup, dump, manifest, s3_opts)
    plan = build_plan(snap, service, now=datetime.now(timezone.utc), salt=secrets.token_hex(16),
                      secrets_mode=secrets_mode)
    text = render(plan)
    if output:
        output.write_text(text)
    else:
        sys.stdout.write(text)
    sys.stderr.write("\n".join(show.summary_lines(plan)) + "\n\n" + "\n".join(show.step_lines(plan)) + "\n\n"
                     + f"Plan: {show.counts(plan)}.\n" + (f"Saved to {output}; review it with "
                                                          f"`pgrestore show {output}`.\n" if output else ""))
    changed = any(c["actions"] != ["no-op"] for c in plan["changes"])
    return 2 if detailed_exitcode and changed else 0
