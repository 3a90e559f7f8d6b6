"""The one entry for reading what a plan is made from, each thing read once, in the order that makes a
refusal cheap: this machine's files first (a bad dump, spec file or volume tar is refused before any
cluster is asked), then whether an apply is under way, then the cluster, the backup in S3 and the
prerequisites. `pgrestore plan` (one service or a set) calls `read_local` and `take_snapshot`; build.py
makes the plan from the Snapshot without any I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from pgrestore.adapters.kube import Kube
from pgrestore.adapters.s3 import S3
from pgrestore.contract import journal
from pgrestore.contract.model import ServiceDef, lease_name
from pgrestore.core import local_backup
from pgrestore.errors import PlanRejected, UsageError

from . import prerequisites
from .options import PlanOptions
from .read import (
    read_backup_file,
    read_backup_s3,
    read_cluster,
    read_spec_file,
    read_volume_archive,
    recover_spec,
    require_cluster,
)
from .world import BackupState, Snapshot, VolumeArchive


@dataclass(frozen=True)
class BackupChoice:
    """Which backup to restore: `--backup KEY` (the newest intact in S3 by default), or a local `--dump`
    (a file, a folder holding one, or backup_vcs.sh's .tgz) with its `--manifest`."""

    key: str = "latest"
    dump: Path | None = None
    manifest: Path | None = None


@dataclass(frozen=True)
class LocalInputs:
    """What a plan takes from this machine's files, read and checked before the cluster is asked."""

    options: PlanOptions  # with a .tgz's vcs.tar as the volume backup when none was given
    backup: BackupState | None = None  # a local dump (checked and hashed once), or None: from S3
    volume: VolumeArchive | None = None  # a tar of the client's data volume, restored too


def read_local(service: ServiceDef, choice: BackupChoice, options: PlanOptions) -> LocalInputs:
    """The local dump, the spec file and the volume backup, each checked; bad ones are refused here."""
    backup = None
    if choice.dump is not None:
        dump, manifest, volume = local_backup.resolve(choice.dump, choice.manifest)
        if volume is not None and options.volume_backup is None and service.data_volume is not None:
            options = replace(options, volume_backup=volume)
        backup = read_backup_file(dump, manifest)
    if options.postgresql_spec is not None:
        read_spec_file(options.postgresql_spec, service.namespace, service.cluster)
    return LocalInputs(options, backup, _volume_archive(service, options))


def _volume_archive(service: ServiceDef, options: PlanOptions) -> VolumeArchive | None:
    """The client's volume backup to restore too (--pvc-backup, or the vcs.tar of a --dump .tgz)."""
    if options.volume_backup is None:
        return None
    if service.data_volume is None:
        raise UsageError(f"--pvc-backup: service {service.name} has no data volume to restore; drop the option")
    return read_volume_archive(options.volume_backup, service.data_volume.path)


def refuse_while_applying(kube: Kube, service: ServiceDef) -> None:
    """A plan made mid-restore would record the half-restored state as the one to return to."""
    ns, name = service.namespace, service.name
    lease = kube.get_lease(ns, lease_name(name))
    if lease is not None:
        holder = (lease.get("spec") or {}).get("holderIdentity")
        raise UsageError(f"an apply for {name} holds lease {ns}/{lease_name(name)} ({holder}); wait for it, "
                         f"or resume, roll back or force-unlock it, before planning again")
    try:
        last = journal.from_configmap(kube.get_configmap(ns, journal.configmap_name(name)), ns, name)
    except PlanRejected:
        last = None  # apply refuses an unreadable journal itself; it holds no status to go by here
    if last and last.status in journal.UNFINISHED:
        raise UsageError(f"the last apply for {name} stopped while {last.status} (ConfigMap "
                         f"{ns}/{journal.configmap_name(name)}); resume it or `pgrestore rollback` its plan first")


def take_snapshot(kube: Kube, service: ServiceDef, local: LocalInputs, *, choice: BackupChoice,
                  connect_s3: Callable[[], S3], restored_first: frozenset[str] = frozenset()) -> Snapshot:
    """The cluster as it is (its spec recovered if the resource is gone), the backup (the local one, or
    the chosen one in S3: `connect_s3` is called only then), checked against the prerequisites.
    `restored_first`: services a plan set restores before this one (not checked for health now)."""
    cluster = recover_spec(kube, read_cluster(kube, service), service, local.options.postgresql_spec)
    require_cluster(cluster, service)
    bucket = None
    backup = local.backup
    if backup is None:
        bucket = connect_s3()
        backup = read_backup_s3(bucket, service.cluster, choice.key)
    snapshot = Snapshot(cluster, backup, local.volume)
    prerequisites.check(kube, bucket, service, snapshot, restored_first)
    return snapshot
