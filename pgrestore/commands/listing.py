"""`pgrestore services` and `pgrestore backups`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from pgrestore.adapters.connect import Connection, s3_from_options
from pgrestore.core import backups, services


def services_table() -> str:
    header = ("SERVICE", "NAMESPACE", "POSTGRESQL", "CLIENT", "DESCRIPTION")
    rows = [header] + [(name, s.namespace, s.cluster, f"{s.client.kind.lower()}/{s.client.name}", s.description)
                       for name, s in services.load_all().items()]
    return _columns(rows)


def _columns(rows: Sequence[tuple[str, ...]]) -> str:
    """Left-aligned columns as wide as their widest cell; the last column is not padded."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "".join(" ".join([*(c.ljust(w) for c, w in zip(r, widths, strict=False)), r[-1]]) + "\n"
                   for r in rows)


def _age(stamp: str, now: datetime) -> str:
    then = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    seconds = int((now - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def backups_table(service_name: str, *, connection: Connection) -> str:
    service = services.load(service_name)
    s3 = s3_from_options(connection.kube(), connection.s3)
    cluster = service.cluster
    listing = [o for p in backups.prefixes(cluster) for o in s3.list(backups.BUCKET, p)]
    found = backups.find(listing, cluster)
    if not found:
        return f"no backups of {cluster} in s3://{backups.BUCKET}\n"
    now = datetime.now(timezone.utc)
    rows = [f"{'KEY':<86} {'FORMAT':<8} {'SIZE':>12} {'AGE':>6}  COMPLETE"]
    for b in found:
        size = str(b.dump.size) if b.dump else "-"
        complete = "yes" if b.complete else ("no: .psql missing" if b.dump is None else "no: .manifest missing")
        rows.append(f"{b.key:<86} {b.format:<8} {size:>12} {_age(b.taken_at, now):>6}  {complete}")
    return "\n".join(rows) + "\n"
