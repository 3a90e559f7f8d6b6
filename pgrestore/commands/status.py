"""`pgrestore status SERVICE`: where the service's latest apply stands, from the journal the cluster holds
(any machine's apply writes it there) and the apply lock: each step, the running one with its stream's
bytes, rate and time left as last written, and who holds the lock."""

from __future__ import annotations

import json

from pgrestore.adapters.connect import Connection
from pgrestore.adapters.kube import Kube
from pgrestore.contract.journal import configmap_name
from pgrestore.contract.model import JournalData, StepRecord, lease_name, to_dict
from pgrestore.core import apply_job, services
from pgrestore.executors.events import progress_text
from pgrestore.executors.journal import Journal


def run(service_name: str, *, connection: Connection, as_json: bool) -> str:
    service = services.load(service_name)
    kube = connection.kube()
    journal = Journal.in_cluster(kube, service.namespace, service.name)
    lease = kube.get_lease(service.namespace, lease_name(service.name))
    holder = ((lease or {}).get("spec") or {}).get("holderIdentity") or None
    job = _newest_job(kube, apply_job.JOB_NAMESPACE, service.name)
    if as_json:
        return json.dumps({"service": service.name, "namespace": service.namespace,
                           "journal": to_dict(journal) if journal else None, "lock_holder": holder, "job": job},
                          indent=2, sort_keys=True) + "\n"
    if journal is None:
        return (f"no apply of {service.name} on record in namespace {service.namespace} (no ConfigMap "
                f"{configmap_name(service.name)})\n")
    lines = _lines(journal, holder)
    if job is not None:
        lines.insert(2, f"in-cluster: Job {apply_job.JOB_NAMESPACE}/{job['name']} {job['state']}")
    return "\n".join(lines) + "\n"


def _newest_job(kube: Kube, namespace: str, service: str) -> dict | None:
    """The newest in-cluster apply's Job of the service (`apply --in-cluster`), and whether it runs."""
    jobs = kube.list_jobs(namespace, apply_job.job_selector(service))
    if not jobs:
        return None
    job = apply_job.newest(jobs)
    return {"name": job["metadata"]["name"], "state": apply_job.state_of(job)}


def _lines(j: JournalData, holder: str | None) -> list[str]:
    out = [f"{j.service} ({j.namespace}): {j.status}, started {j.started_at}, last written {j.updated_at}",
           f"plan {j.plan_checksum[:19]}…; lock: {f'held by {holder}' if holder else 'free'}"]
    if j.ended_because and j.status != "done":
        out.append(f"stopped because: {j.ended_because}")
    for title, records in (("steps", j.steps), ("rollback", j.rollback)):
        if title == "rollback" and all(r.status == "pending" for r in records.values()):
            continue
        out.append(f"{title}:")
        for step_id, r in records.items():
            out.append(f"  {r.status:<8} {step_id}{_detail(r)}")
    return out


def _detail(record: StepRecord) -> str:
    if record.status == "failed" and record.error:
        return f"  {record.error}"
    if record.progress and record.status in ("running", "failed"):
        return f"  {progress_text(record.progress)} (as of {record.progress.get('elapsed_seconds')} s in)"
    return ""
