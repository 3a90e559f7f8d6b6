"""The apply journal: step status, timestamps and observed values, after every step.

Written atomically to a file beside the plan and to a ConfigMap in the service's
namespace, so another operator (or another machine) can see where a restore stands.
It holds Job specs saved before they are deleted, never a secret value.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pgrestore.adapters.kube import Kube
from pgrestore.contract.journal import FINAL, KEY, configmap_name, from_configmap, parse
from pgrestore.contract.model import JOURNAL_FORMAT, JournalData, Plan, StepRecord, to_dict
from pgrestore.errors import KubernetesError, PlanRejected

STATE_DIR_ENV = "PGRESTORE_STATE_DIR"  # where journals and logs go instead of beside the plan
IN_POD_ENV = "PGRESTORE_POD_NAME"  # set in an in-cluster apply's pod (core/apply_job.py)


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def path_for(plan_path: Path) -> Path:
    """Beside the plan, or in PGRESTORE_STATE_DIR (an in-cluster apply's plan is a read-only volume)."""
    name = plan_path.name.removesuffix(".json")
    return state_folder(plan_path) / f"{name}.journal.json"


def state_folder(plan_path: Path) -> Path:
    folder = os.environ.get(STATE_DIR_ENV)
    return Path(folder) if folder else plan_path.parent


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except UnicodeDecodeError:
        raise PlanRejected(f"journal {path} is not JSON text; move it away and re-plan, or restore it from the "
                           f"ConfigMap copy") from None
    except OSError as e:
        raise PlanRejected(f"journal {path} cannot be read ({e.strerror}); move it away and apply again") from None


class Journal:
    def __init__(self, path: Path, kube: Kube, data: JournalData):
        self.path, self.kube, self.data = path, kube, data
        self.cm_error: str | None = None

    @classmethod
    def fresh(cls, path: Path, kube: Kube, plan: Plan) -> Journal:
        data = JournalData(format_version=JOURNAL_FORMAT, plan_checksum=plan.checksum, service=plan.service,
                           namespace=plan.namespace, status="running", started_at=now(), updated_at=now(),
                           steps={s.id: StepRecord("pending") for s in plan.steps},
                           rollback={s.id: StepRecord("pending") for s in plan.rollback}, saved={})
        return cls(path, kube, data)

    @classmethod
    def existing(cls, path: Path, kube: Kube, plan: Plan) -> Journal | None:
        """The newer of the local file and the cluster's copy: an apply resumed on another
        machine leaves this machine's file behind, and it must not win."""
        copies = []
        if path.exists():
            local = parse(_read(path), str(path))
            if local is not None and local.plan_checksum != plan.checksum:
                if local.status not in FINAL:
                    raise PlanRejected(f"journal {path} is of another plan ({local.plan_checksum[:19]}…) that "
                                       f"stopped while {local.status}; resume or roll back that plan first")
                # A finished apply's record is kept beside it, under its plan's checksum.
                path.rename(path.with_name(f"{path.name.removesuffix('.json')}.{local.plan_checksum.rpartition(':')[2][:12]}.json"))
                local = None
            copies.append(local)
        copies.append(from_configmap(kube.get_configmap(plan.namespace, configmap_name(plan.service)),
                                     plan.namespace, plan.service))
        mine = [c for c in copies if c is not None and c.plan_checksum == plan.checksum]
        if not mine:
            return None
        return cls(path, kube, max(mine, key=lambda c: c.updated_at))

    @staticmethod
    def in_cluster(kube: Kube, namespace: str, service: str) -> JournalData | None:
        """The latest journal of any plan for this service, as the cluster holds it."""
        try:
            return from_configmap(kube.get_configmap(namespace, configmap_name(service)), namespace, service)
        except PlanRejected:
            return None

    # -- state ---------------------------------------------------------------
    def record(self, step_id: str) -> StepRecord:
        return self.data.steps.get(step_id) or self.data.rollback[step_id]

    def status_of(self, step_id: str) -> str:
        return self.record(step_id).status

    def observed(self, step_id: str) -> dict[str, Any]:
        return self.record(step_id).observed or {}

    def mark(self, step_id: str, status: str, *, observed: dict | None = None, error: str | None = None) -> None:
        rec = self.record(step_id)
        rec.status = status
        if status == "running":
            rec.started_at = now()
        else:
            rec.finished_at = now()
        if observed is not None:
            rec.observed = observed
        if error is not None:
            rec.error = error
        self.save()

    def progress(self, step_id: str, figures: dict[str, Any]) -> None:
        """A running stream's figures, for `pgrestore status` to show from anywhere."""
        self.record(step_id).progress = figures
        self.save()

    def reset(self, step_id: str) -> None:
        section = self.data.steps if step_id in self.data.steps else self.data.rollback
        section[step_id] = StepRecord("pending")

    def set_status(self, status: str) -> None:
        self.data.status = status
        self.save()

    def save_once(self, key: str, name: str, value: dict) -> dict:
        """Persist an original once: a re-run must never overwrite it with a changed copy."""
        saved = self.data.saved.setdefault(key, {})
        if name not in saved:
            saved[name] = value
            self.save()
        return dict(saved[name])

    def remember(self, key: str, name: str, value: dict) -> None:
        """Persist the latest value (unlike save_once), e.g. the uid of the cluster we created."""
        self.data.saved.setdefault(key, {})[name] = value
        self.save()

    def saved(self, key: str, name: str) -> dict | None:
        return self.data.saved.get(key, {}).get(name)

    # -- persistence ---------------------------------------------------------
    def save(self) -> None:
        self.data.updated_at = now()
        # Not validated here: it is our own typed data; every read (resume, status, plan's check) validates
        # it, and the tests validate each journal an apply leaves (tests/fakes/rehearsal.py).
        text = json.dumps(to_dict(self.data), indent=2, sort_keys=True) + "\n"
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)  # saved specs are not secrets, but they are nobody else's business
        os.replace(tmp, self.path)
        # The local file is the record; the cluster copy must not fail a restore. But a final
        # status must reach it: `plan` refuses while the cluster's copy says an apply is running.
        # In an in-cluster apply's pod the local file goes with the pod: the cluster copy is the record
        # the next pod resumes from, so every write must reach it, or the apply stops here.
        in_pod = bool(os.environ.get(IN_POD_ENV))
        attempts = 4 if in_pod or self.data.status in FINAL else 1
        for attempt in range(attempts):
            try:
                self.kube.upsert_configmap(self.data.namespace, configmap_name(self.data.service),
                                           {KEY: text}, {"app.kubernetes.io/managed-by": "pgrestore"})
                self.cm_error = None
                return
            except KubernetesError as e:
                self.cm_error = str(e)
                if attempt + 1 < attempts:
                    time.sleep(0.5 * 2 ** attempt)
        if in_pod:
            raise KubernetesError(f"the journal could not be written to ConfigMap {self.data.namespace}/"
                                  f"{configmap_name(self.data.service)} ({self.cm_error}); in a pod it is the only "
                                  f"record a resume has, so the apply stops here")
