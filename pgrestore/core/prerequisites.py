"""Reading what a service's restore needs of the world: the live and the dumped schema version, another
service's health, a client's images. Used by plan (planner/prerequisites.py) and again, under apply's
lock, by the check-prerequisites step (executors/steps/check_prerequisites.py). Reads only."""

from __future__ import annotations

import re

from pgrestore.adapters.kube import Kube
from pgrestore.adapters.psql import Psql, ident
from pgrestore.adapters.s3 import S3
from pgrestore.contract.model import BackupRef, Location, SchemaVersion, Target
from pgrestore.core import pods
from pgrestore.core.dumps import VerifiedStream
from pgrestore.core.observe import selector_string, spilo_selector
from pgrestore.core.restore_errors import CopyHeader, parse_copy
from pgrestore.errors import BackupError

_CONNECT = re.compile(r'^\\connect (?:-reuse-previous=on )?(?P<db>"(?:[^"]|"")*"|\S+)')


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


def client_images(obj: dict) -> list[str]:
    """The images of a workload's pod template (init containers too), as written in its spec."""
    pod = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    return [str(c.get("image")) for key in ("initContainers", "containers") for c in pod.get(key) or []]


# The statuses an operator event writes that its next one clears when nothing is wrong (postgres-operator
# v1.8.2 pkg/apis/acid.zalan.do/v1/const.go): all but Running and Invalid (a spec it cannot use).
SETTLING_STATUSES = ("Creating", "Updating", "UpdateFailed", "SyncFailed", "CreateFailed")


def _status(kube: Kube, ns: str, cluster: str) -> str | None:
    pg = kube.read(Target("postgresql", ns, cluster))
    return ((pg or {}).get("status") or {}).get("PostgresClusterStatus")


def operator_settling(kube: Kube, other: dict) -> bool:
    """Is the other service's postgresql in a status its operator's next event may clear?"""
    return _status(kube, other["namespace"], other["cluster"]) in SETTLING_STATUSES


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
