"""`pgrestore services` and `pgrestore backups`."""

from __future__ import annotations

from datetime import datetime, timezone

from core import backups, services
from core.adapters.kube import Kube
from core.connect import s3_from_options


def services_table() -> str:
    rows = [f"{'SERVICE':<12} {'NAMESPACE':<10} {'POSTGRESQL':<36} {'CLIENT':<32} DESCRIPTION"]
    for name, s in services.load_all().items():
        client = f"{s.client.kind.lower()}/{s.client.name}"
        rows.append(f"{name:<12} {s.namespace:<10} {s.cluster:<36} {client:<32} {s.description}")
    return "\n".join(rows) + "\n"


def _age(stamp: str, now: datetime) -> str:
    then = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    seconds = int((now - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def backups_table(service_name: str, kubeconfig: str | None, s3_opts: dict, context: str | None = None) -> str:
    service = services.load(service_name)
    s3 = s3_from_options(Kube(kubeconfig, context), s3_opts)
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
