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

import re

from core import dumps, pods, services
from core.adapters.kube import Kube
from core.adapters.psql import Psql, ident
from core.adapters.s3 import S3
from core.dumps import VerifiedStream
from core.errors import BackupError, PgRestoreError, PsqlError
from core.model import BackupRef, Location, SchemaVersion, ServiceDef, Target
from core.observe import selector_string, spilo_selector
from core.restore_errors import CopyHeader, parse_copy

from .read import Snapshot

_CONNECT = re.compile(r'^\\connect (?:-reuse-previous=on )?(?P<db>"(?:[^"]|"")*"|\S+)')


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


def _unquote(name: str) -> str:
    return name[1:-1].replace('""', '"') if len(name) >= 2 and name[0] == name[-1] == '"' else name


def dump_values(backup: BackupRef, s3: S3 | None, want: SchemaVersion) -> list[str] | None:
    """The column's values in the dump's COPY block of the table, in the database; None if the dump has
    no such block. Reads the dump as a stream and stops at the block's end."""
    loc = Location(backup.source, backup.bucket, backup.key)
    database, carry, index = "postgres", b"", None
    values: list[str] = []
    for chunk in VerifiedStream(loc, backup.format, s3, backup.size, ""):
        lines = (carry + chunk).split(b"\n")
        carry = lines.pop()
        for raw in lines:
            line = raw.decode(errors="replace")
            if index is not None:
                if line == "\\.":
                    return values
                fields = line.split("\t")
                values.append(fields[index] if index < len(fields) else "")
            elif m := _CONNECT.match(line):
                database = _unquote(m["db"])
            elif database == want.database and (header := parse_copy(line)) and _names(header, want.table):
                columns = list(header.columns or ())
                if want.column not in columns:
                    raise BackupError(f"{backup.key}: COPY {want.table} has no column {want.column} "
                                      f"({', '.join(columns)}); check the service definition's schema_version")
                index = columns.index(want.column)
    return None


def _names(header: CopyHeader, table: str) -> bool:
    """Is this COPY block the service definition's table ("public.system": schema.table, unquoted)?"""
    return header.qualified == table


def live_values(kube: Kube, ns: str, cluster: str, want: SchemaVersion) -> list[str]:
    leader = pods.find_leader(kube, ns, cluster)
    table = ".".join(ident(part) for part in want.table.split(".", 1))
    sql = f"SELECT {ident(want.column)} FROM {table} ORDER BY 1;"
    out = Psql(kube).run(ns, leader, sql, db=want.database)
    return [line for line in out.splitlines() if line != ""]


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


def client_images(obj: dict) -> list[str]:
    """The images of a workload's pod template (init containers too), as written in its spec."""
    pod = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    return [str(c.get("image")) for key in ("initContainers", "containers") for c in pod.get(key) or []]


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


def health_problem(kube: Kube, other: dict) -> str | None:
    """The first reason the service (healthy_params) is not healthy, or None."""
    ns, cluster, client_kind, client_name = other["namespace"], other["cluster"], other["client"]["kind"], \
        other["client"]["name"]
    pg = kube.read(Target("postgresql", ns, cluster))
    status = ((pg or {}).get("status") or {}).get("PostgresClusterStatus")
    problem = None
    if pg is None:
        problem = f"postgresql {ns}/{cluster} does not exist"
    elif status != "Running":
        problem = f"postgresql {ns}/{cluster} is {status or 'without a status'}, not Running"
    elif pods.leader(kube.list_pods(ns, spilo_selector(cluster))) is None:
        problem = f"postgresql {ns}/{cluster} has no Ready Patroni leader"
    else:
        client = kube.read(Target(client_kind, ns, client_name))
        if client is None:
            problem = f"{client_kind.lower()} {ns}/{client_name} does not exist"
        else:
            replicas = int((client.get("spec") or {}).get("replicas") or 0)
            selector = selector_string(dict(((client.get("spec") or {}).get("selector") or {})
                                            .get("matchLabels") or {}))
            ready = [p for p in pods.live(kube.list_pods(ns, selector)) if pods.ready(p)]
            if replicas == 0 or len(ready) < replicas:
                problem = f"{client_kind.lower()} {ns}/{client_name} has {len(ready)} of {replicas} pods Ready"
    return problem
