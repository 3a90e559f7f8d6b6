"""`pgrestore apply PLAN --in-cluster`, `attach` and `cancel`: an apply that outlives the operator's terminal.

apply checks what it checks locally (signature, cluster, journal, freshness) and asks for approval, then
stores the plan in a Secret and starts a Job that applies it (core/apply_job.py), and follows it. Ctrl-C or
a dropped session stops the following, never the Job; `attach` follows again and `status` shows it from
anywhere. What the follower shows comes from the journal the Job writes to the cluster, the one source of
truth whoever reads it."""

from __future__ import annotations

import getpass
import socket
import time
from collections.abc import Callable
from pathlib import Path

from pgrestore.adapters.connect import Connection
from pgrestore.adapters.kube import Kube
from pgrestore.contract.model import JournalData, Plan, PlanSet, plan_secret_name
from pgrestore.contract.planset import load_any
from pgrestore.core import apply_job, services
from pgrestore.core.kinds import kind
from pgrestore.errors import (
    ApplyFailedRollbackIncomplete,
    ApplyFailedRolledBack,
    AwaitingOperator,
    Interrupted,
    JobEnded,
    UsageError,
)
from pgrestore.executors import engine
from pgrestore.executors.events import Events
from pgrestore.executors.journal import Journal
from pgrestore.executors.lock import request_cancel

POLL_SECONDS = 2.0
ENDED_CODES = {"rolled-back": ApplyFailedRolledBack.exit_code, "rollback-incomplete":
               ApplyFailedRollbackIncomplete.exit_code, "waiting": AwaitingOperator.exit_code}


def launch(plan_path: Path, *, connection: Connection, image: str | None, approve: Callable[[Plan, bool], None],
           resume: bool = False, confirmed: tuple[str, ...] = (), as_json: bool = False) -> str:
    opts = engine.Options(resume=resume, connection=connection, confirmed=confirmed)
    document = load_any(plan_path, engine.plan_keys(opts))
    if isinstance(document, PlanSet):
        raise UsageError("--in-cluster applies one service's plan; apply the plan set from the admin node, or "
                         "plan each service on its own")
    _refuse_what_a_pod_cannot_do(document, connection)
    plan, kube, s3, journal = engine.prepare(plan_path, opts)
    job_ns = apply_job.JOB_NAMESPACE
    running = [j for j in kube.list_jobs(job_ns, apply_job.job_selector(plan.service))
               if apply_job.state_of(j) == "running"]
    if running:
        name = running[0]["metadata"]["name"]
        raise UsageError(f"Job {job_ns}/{name} is applying {plan.service} already; follow it with "
                         f"`pgrestore attach {plan.service}`")
    if not resume or not engine.changed(plan, journal):
        engine.check_fresh(plan, kube, s3)  # the Job checks again under the lock
    approve(plan, resume)
    kube.put_secret(job_ns, {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                             "metadata": {"name": plan_secret_name(plan.service),
                                          "labels": {"app.kubernetes.io/managed-by": "pgrestore",
                                                     apply_job.SERVICE_LABEL: plan.service}},
                             "stringData": {apply_job.PLAN_FILE: plan_path.read_text()}})
    name = apply_job.job_name(plan.service)
    extra = tuple(arg for step in confirmed for arg in ("--confirm", step))
    kube.create_job(job_ns, apply_job.manifest(plan.service, job_ns, name, image or apply_job.default_image(),
                                               plan.checksum, extra))
    return follow(connection, plan.namespace, plan.service, name, as_json=as_json, started=True)


def _refuse_what_a_pod_cannot_do(plan: Plan, connection: Connection) -> None:
    """A pod has no admin node's pdsh, no local files, and only the cluster's S3 credentials."""
    hosts = [s.id for s in plan.steps if s.kind == "host-command"]
    if hosts:
        raise UsageError(f"plan has host steps ({', '.join(hosts)}) that run on the admin node's pdsh; apply it "
                         f"there, without --in-cluster")
    local = [f"{s.id} {name}" for s in plan.steps + plan.rollback for name in kind(s.kind).location_params
             if isinstance(v := s.params.get(name), dict) and v.get("source") != "s3"]
    if plan.backup.source != "s3" or local:
        what = local[0] if local else f"the backup {plan.backup.key}"
        raise UsageError(f"{what} is a file on this machine, which the Job cannot read; plan without --dump, "
                         f"--pin-dir and --safety-dir to keep every stream in S3, or apply without --in-cluster")
    if connection.s3.access_key or connection.s3.secret_key or connection.s3.endpoint:
        raise UsageError("the Job reads S3 with the cluster's postgres-backup-s3-credentials; drop the --s3-* "
                         "options, or apply without --in-cluster")


def attach(service_name: str, *, connection: Connection, as_json: bool = False) -> str:
    service = services.load(service_name)
    kube = connection.kube()
    jobs = kube.list_jobs(apply_job.JOB_NAMESPACE, apply_job.job_selector(service.name))
    if not jobs:
        raise UsageError(f"no in-cluster apply of {service.name} (no Job in namespace {apply_job.JOB_NAMESPACE}); "
                         f"`pgrestore status {service.name}` shows a local one")
    return follow(connection, service.namespace, service.name, apply_job.newest(jobs)["metadata"]["name"],
                  as_json=as_json)


def cancel(service_name: str, *, connection: Connection) -> str:
    service = services.load(service_name)
    who = f"{getpass.getuser()}@{socket.gethostname()}"
    return request_cancel(connection.kube(), service.namespace, service.name, who)


def follow(connection: Connection, namespace: str, service: str, job: str, *, as_json: bool,
           started: bool = False) -> str:
    """Show the Job's journal (in the service's namespace) as it changes, until the Job ends: its sentence,
    or JobEnded with the apply's own exit code."""
    kube, job_ns = connection.kube(), apply_job.JOB_NAMESPACE
    plan_label = ((kube.get_job(job_ns, job)["metadata"].get("labels") or {}).get(apply_job.PLAN_LABEL) or "")
    events = Events(as_json)
    verb = "started" if started else "following"
    events({"event": "message", "text": f"{verb} Job {job_ns}/{job}; Ctrl-C stops following, never the Job "
                                        f"(`pgrestore attach {service}` follows again, `pgrestore cancel "
                                        f"{service}` stops it)"})
    shown: dict[str, tuple[str, int | None]] = {}
    waiting = ""
    try:
        while True:
            journal = _journal_of(kube, namespace, service, plan_label)
            if journal is not None:
                _show_changes(journal, shown, events)
            if (now := _pod_waits_for(kube, job_ns, job)) != waiting:
                waiting = now  # e.g. an image the nodes cannot pull: said, not a silent spinner
                if now:
                    events({"event": "message", "text": now})
            state = apply_job.state_of(kube.get_job(job_ns, job))
            if state != "running":
                break
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        raise Interrupted(f"stopped following Job {job_ns}/{job}; it goes on (`pgrestore attach {service}`, "
                          f"`pgrestore status {service}`)") from None
    finally:
        events.close()
    journal = _journal_of(kube, namespace, service, plan_label)
    status = journal.status if journal else "none"
    if status == "done":  # the journal is the truth: a pod stopped after it was written does not undo it
        return f"in-cluster apply {job_ns}/{job} is done: {service} restored"
    # How the apply ended, as its exit code: from the journal where it says (a retried pod of a failed Job
    # exits as the first did, but may be the newest), else the newest pod's own.
    code = ENDED_CODES.get(status) or apply_job.exit_code_of(kube.list_pods(job_ns, f"job-name={job}"))
    failed = f"; stopped because: {journal.ended_because}" if journal and journal.ended_because else ""
    how = f"exit {code}" if code is not None else "its pod is gone"
    raise JobEnded(f"in-cluster apply {job_ns}/{job} ended ({how}), journal {status}{failed}; "
                   f"`pgrestore status {service}` shows each step", exit_code=code or 1)


def _pod_waits_for(kube: Kube, namespace: str, job: str) -> str:
    """What the Job's newest pod waits for, if it is not running yet: scheduling, or its container."""
    pods = kube.list_pods(namespace, f"job-name={job}")
    if not pods:
        return f"waiting for Job {namespace}/{job} to make its pod (`kubectl describe job -n {namespace} {job}`)"
    pod = apply_job.newest(pods)
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        state = (status.get("state") or {}).get("waiting")
        if state:
            return (f"pod {namespace}/{pod['metadata']['name']} waits: {state.get('reason')}: "
                    f"{state.get('message') or ''}".rstrip(": "))
    phase = (pod.get("status") or {}).get("phase") or "Pending"
    return f"pod {namespace}/{pod['metadata']['name']} is {phase}" if phase == "Pending" else ""


def _journal_of(kube: Kube, namespace: str, service: str, plan_label: str) -> JournalData | None:
    """The cluster's journal if it is of the Job's plan (until the Job first writes it, it holds the last
    apply's)."""
    journal = Journal.in_cluster(kube, namespace, service)
    if journal is None or apply_job.plan_label(journal.plan_checksum) != plan_label:
        return None
    return journal


def _show_changes(journal: JournalData, shown: dict[str, tuple[str, int | None]], events: Events) -> None:
    """Each step whose status or stream figures changed since the last look, as apply's own events."""
    for section, records in (("", journal.steps), ("rollback ", journal.rollback)):
        for step_id, record in records.items():
            figures = record.progress or {}
            now = (record.status, figures.get("bytes"))
            before = shown.get(step_id, ("pending", None))
            if now == before:
                continue
            shown[step_id] = now
            if record.status == "running" and before[0] != "running":
                events({"event": "step_started", "step": step_id, "description": f"{section}{step_id}"})
            if record.status == "running" and figures:
                events({"event": "progress", "step": step_id, **figures})
            elif record.status in ("done", "failed", "skipped", "waiting"):
                events({"event": "step_finished", "step": step_id, "status": record.status,
                        **({"error": record.error} if record.error else {})})
