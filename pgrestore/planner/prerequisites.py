"""What a service's restore needs of the world before a plan is written (read at plan time,
nothing changes):

- `schema_version`: the live values (a psql exec in the Patroni leader, as the runbook's
  `SELECT * FROM system` / `schema_migrations`) must equal the backup's COPY block of that table,
  read from the dump as a stream until the block ends (csm-procedures.md §2.1 step 5, §2.3). A
  backup of another schema is refused: the application would have to be up- or downgraded first.
  The COPY header's column list is parsed, not assumed (§4.1 item 7: the runbook's HSM example
  columns do not match).
- `requires_healthy`: each named service's cluster Running with a Patroni leader, and its client
  Ready at its replicas (HSM's runbook: "SLS must be healthy").
- every service: the dump is not from a newer PostgreSQL major than the cluster's
  (spec.postgresql.version). pg_dump's output is meant to load into its own major or a newer one
  (PostgreSQL 15 docs, pg_dump: "not guaranteed" into an older server); found only when psql replays it,
  after the delete, it would leave the rollback to put the data back.
"""

from __future__ import annotations

from pgrestore.adapters.kube import Kube
from pgrestore.adapters.s3 import S3
from pgrestore.contract.model import BackupRef, SchemaVersion, ServiceDef
from pgrestore.core import dumps, services
from pgrestore.core.prerequisites import client_images, dump_values, health_problem, live_values
from pgrestore.errors import BackupError, PgRestoreError, PsqlError

from .world import Snapshot

__all__ = ["check", "check_healthy", "check_major", "check_schema", "client_images", "dump_values",
           "health_problem", "healthy_params", "live_values"]


def check(kube: Kube, s3: S3 | None, service: ServiceDef, snapshot: Snapshot,
          restored_first: frozenset[str] = frozenset()) -> None:
    """`restored_first`: services an earlier plan of the same plan set restores; their health is
    what that plan's verify step proves before this service's plan starts."""
    check_major(s3, snapshot)
    for name in service.requires_healthy:
        if name not in restored_first:
            check_healthy(kube, services.load(name), service)
    # With the resource gone there is no live schema to read: build_plan refuses the strategies that
    # restore into an existing cluster (in-place, recreate-all) and says to re-create it first.
    if service.schema_version is not None and snapshot.cluster.postgresql is not None:
        check_schema(kube, s3, service, service.schema_version, snapshot.backup.ref)


def check_major(s3: S3 | None, snapshot: Snapshot) -> None:
    """Refuses a dump from a newer PostgreSQL major than the cluster runs (or will run, re-created from its spec)."""
    backup = snapshot.backup.ref
    cluster = str(((snapshot.cluster.postgresql_resource.get("spec") or {}).get("postgresql") or {})
                  .get("version") or "")
    dumped = dumps.dumped_from_major(backup, s3)
    if not cluster or dumped is None:
        return  # nothing to compare: the dump or the spec does not say
    if dumps.major_key(dumped) > dumps.major_key(cluster):
        raise BackupError(f"backup {backup.key} was dumped from PostgreSQL {dumped}, newer than the cluster's "
                          f"PostgreSQL {cluster} (spec.postgresql.version): it would fail only after the delete; "
                          f"choose a backup taken on PostgreSQL {cluster} or older")


def _shown(values: list[str]) -> str:
    return ", ".join(values) if values else "(none)"


def check_schema(kube: Kube, s3: S3 | None, service: ServiceDef, want: SchemaVersion, backup: BackupRef) -> None:
    what = f"{want.table}.{want.column} in database {want.database}"
    in_dump = dump_values(backup, s3, want)
    if in_dump is None:
        raise BackupError(f"backup {backup.key} has no COPY {want.table} block in database {want.database}: its "
                          f"schema version cannot be checked; choose another backup")
    try:
        live = live_values(kube, service.namespace, service.cluster, want)
    except PsqlError as e:
        raise PgRestoreError(f"cannot read the live schema version ({what}) of {service.cluster}: {e}; re-run "
                             f"the service's init job so the schema exists, then plan again") from None
    if sorted(in_dump) != sorted(live):
        raise BackupError(f"backup is for schema {_shown(sorted(in_dump))}, live {service.name.upper()} is "
                          f"{_shown(sorted(live))}: upgrade or downgrade first ({what}; backup {backup.key})")


def healthy_params(other: ServiceDef) -> dict:
    """What check-prerequisites reads at apply to prove the other service healthy (as check_healthy)."""
    return {"service": other.name, "namespace": other.namespace, "cluster": other.cluster,
            "client": {"kind": other.client.kind, "name": other.client.name}}


def check_healthy(kube: Kube, other: ServiceDef, of: ServiceDef) -> None:
    """Refuses, naming the first problem, unless the other service's cluster is Running with a leader
    and its client has all its replicas Ready."""
    problem = health_problem(kube, healthy_params(other))
    if problem is not None:
        raise PgRestoreError(f"{other.name.upper()} must be healthy before {of.name.upper()} is restored: {problem}; "
                             f"fix {other.name} first (`pgrestore plan {other.name}` restores it), then plan again")
