"""Planned step timeouts: the service's own, else the catalog's production default (core/kinds.py),
grown with the dump's size as the kind's catalog entry says (streaming a restore, replicas cloning
with pg_basebackup)."""

from __future__ import annotations

from collections.abc import Callable

from pgrestore.contract.model import ServiceDef
from pgrestore.core.kinds import Grows, kind
from pgrestore.core.services import timeout_for

# Conservative rates for CSM hardware (Ceph RBD volumes, exec stream through the API VIP):
# a restore replays at >= 5 MB/s, a replica clones at >= 20 MB/s.
RESTORE_BYTES_PER_SECOND = 5_000_000
CLONE_BYTES_PER_SECOND = 20_000_000


def timeouts(service: ServiceDef, dump_size: int, instances: int) -> Callable[[str], int]:
    grown: dict[Grows, Callable[[int], int]] = {
        Grows.NOT: lambda base: base,
        Grows.WITH_RESTORE: lambda base: max(base, 600 + dump_size // RESTORE_BYTES_PER_SECOND),
        Grows.WITH_READ: lambda base: max(base, 600 + dump_size // CLONE_BYTES_PER_SECOND),
        Grows.WITH_COPY_AND_READ: lambda base: max(base, 600 + 2 * dump_size // CLONE_BYTES_PER_SECOND),
        Grows.WITH_CLONES: lambda base: base + max(0, instances - 1) * (dump_size // CLONE_BYTES_PER_SECOND),
    }

    def planned(name: str) -> int:
        base = timeout_for(service, name)
        if name in service.timeouts or "default" in service.timeouts:
            return base  # an operator's explicit choice stands
        return grown[kind(name).grows](base)
    return planned
