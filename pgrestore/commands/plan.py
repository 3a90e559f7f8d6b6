"""`pgrestore plan`: read the cluster and the backup, write a signed plan. Changes nothing, but creates the
namespace's plan key (Secret pgrestore-plan-key, core/plankey.py) the first time."""

from __future__ import annotations

import secrets
import sys
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from core import local_backup, permissions, plankey, services
from core.adapters.kube import Kube
from core.connect import s3_from_options
from core.document import render
from core.errors import UsageError
from core.model import ServiceDef
from executors.journal import Journal
from executors.lock import lease_name
from pgrestore import show
from planner import build_plan
from planner import prerequisites
from planner.options import PlanOptions
from planner.read import (Snapshot, VolumeArchive, read_backup, read_cluster, read_spec_file, read_volume_archive,
                          recover_spec, require_cluster)


def take_snapshot(kube: Kube, service: ServiceDef, backup: str, dump: Path | None, manifest: Path | None,
                  s3_opts: dict, spec_file: Path | None = None,
                  restored_first: frozenset[str] = frozenset()) -> Snapshot:
    if dump is not None:  # a local file is checked first: a wrong path needs no cluster to say so
        chosen = read_backup(None, service.cluster, backup, dump, manifest)
    cluster = recover_spec(kube, read_cluster(kube, service), service, spec_file)
    require_cluster(cluster, service)
    s3 = None
    if dump is None:
        s3 = s3_from_options(kube, s3_opts)
        chosen = read_backup(s3, service.cluster, backup, None, None)
    snapshot = Snapshot(cluster, chosen)
    # schema version, services that must be healthy
    prerequisites.check(kube, s3, service, snapshot, restored_first)
    return snapshot


def write_plan(text: str, output: Path | None) -> None:
    """A plan's (or plan set's) JSON to -o, or to stdout."""
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text)
    except OSError as e:
        raise UsageError(f"cannot write plan to {output} ({e.strerror}); choose another path") from None


def refuse_while_applying(kube: Kube, service: ServiceDef) -> None:
    """A plan made mid-restore would record the half-restored state as the one to return to."""
    ns, name = service.namespace, service.name
    lease = kube.get_lease(ns, lease_name(name))
    if lease is not None:
        holder = (lease.get("spec") or {}).get("holderIdentity")
        raise UsageError(f"an apply for {name} holds lease {ns}/{lease_name(name)} ({holder}); wait for it, "
                         f"or resume, roll back or force-unlock it, before planning again")
    journal = Journal.in_cluster(kube, ns, name)
    if journal and journal.status in ("running", "waiting", "rolling-back"):
        raise UsageError(f"the last apply for {name} stopped while {journal.status} (ConfigMap "
                         f"{ns}/pgrestore-journal-{name}); resume it or `pgrestore rollback` its plan first")


def check_output(output: Path | None) -> None:
    if output is None:
        return
    if output.is_dir():
        raise UsageError(f"-o {output} is a directory; name the plan file to write, e.g. {output}/plan.json")
    if not output.parent.is_dir():
        raise UsageError(f"-o {output}: folder {output.parent} does not exist; create it or choose another path")


def run(service_name: str, backup: str, dump: Path | None, manifest: Path | None, options: PlanOptions,
        output: Path | None, detailed_exitcode: bool, kubeconfig: str | None, s3_opts: dict,
        context: str | None = None) -> int:
    service = services.load(service_name)
    check_output(output)
    if dump is not None:
        dump, manifest, volume = local_backup.resolve(dump, manifest)  # a folder, or backup_vcs.sh's .tgz
        if volume is not None and options.volume_backup is None and service.data_volume is not None:
            options = replace(options, volume_backup=volume)
        read_backup(None, service.cluster, backup, dump, manifest)  # refuse a bad file before anything else
    if options.postgresql_spec is not None:
        read_spec_file(options.postgresql_spec, service.namespace, service.cluster)
    volume_archive = _volume_archive(service, options)
    kube = Kube(kubeconfig, context)
    refuse_while_applying(kube, service)
    permissions.check(kube, service, s3_opts)
    snap = take_snapshot(kube, service, backup, dump, manifest, s3_opts, options.postgresql_spec)
    snap = replace(snap, volume=volume_archive)
    plan = build_plan(snap, service, now=datetime.now(timezone.utc), salt=secrets.token_hex(16), options=options,
                      key=plankey.ensure(kube, service.namespace))
    write_plan(render(plan), output)
    sys.stderr.write("\n".join(show.summary_lines(plan)) + "\n\n" + "\n".join(show.step_lines(plan)) + "\n\n"
                     + f"Plan: {show.counts(plan)}.\n" + (f"Saved to {output}; review it with "
                                                          f"`pgrestore show {output}`.\n" if output else ""))
    changed = any(c.actions != ["no-op"] for c in plan.changes)
    return 2 if detailed_exitcode and changed else 0


def _volume_archive(service: ServiceDef, options: PlanOptions) -> VolumeArchive | None:
    """The client's volume backup to restore too (--pvc-backup, or the vcs.tar of a --dump .tgz)."""
    if options.volume_backup is None:
        return None
    if service.data_volume is None:
        raise UsageError(f"--pvc-backup: service {service.name} has no data volume to restore; drop the option")
    return read_volume_archive(options.volume_backup, service.data_volume.path)
