"""Planned step timeouts: the service's own, else production defaults, grown with the dump's
size where a step's time does (streaming a restore, replicas cloning with pg_basebackup)."""

from __future__ import annotations

from collections.abc import Callable

from pgrestore.contract.model import ServiceDef
from pgrestore.core.services import timeout_for

# Conservative rates for CSM hardware (Ceph RBD volumes, exec stream through the API VIP):
# a restore replays at >= 5 MB/s, a replica clones at >= 20 MB/s.
RESTORE_BYTES_PER_SECOND = 5_000_000
CLONE_BYTES_PER_SECOND = 20_000_000


def timeouts(service: ServiceDef, dump_size: int, instances: int) -> Callable[[str], int]:
    def planned(kind: str) -> int:
        base = timeout_for(service, kind)
        if kind in service.timeouts or "default" in service.timeouts:
            return base  # an operator's explicit choice stands
        if kind in ("restore-dump", "safety-dump"):  # the live cluster is about the backup's size
            return max(base, 600 + dump_size // RESTORE_BYTES_PER_SECOND)
        if kind == "check-prerequisites":  # reads the dump up to the schema version's block: at most through
            return max(base, 600 + dump_size // CLONE_BYTES_PER_SECOND)
        if kind in ("pin-backup", "verify-backup"):  # a copy, then a read through
            return max(base, 600 + 2 * dump_size // CLONE_BYTES_PER_SECOND)
        if kind in ("set-instances", "ensure-cluster"):
            return base + max(0, instances - 1) * (dump_size // CLONE_BYTES_PER_SECOND)
        return base
    return planned
