"""The apply journal: step status, timestamps and observed values, after every step.

Written atomically to a file beside the plan and to a ConfigMap in the service's
namespace, so another operator (or another machine) can see where a restore stands.
It holds the saved postgresql resource and Job specs, never a secret value.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from pgrestore.adapters.kube import Kube
from pgrestore.errors import KubernetesError
from pgrestore.schema import validate

FORMAT_VERSION = "1.0"


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def path_for(plan_path: Path) -> Path:
    name = plan_path.name.removesuffix(".json")
    return plan_path.with_name(f"{name}.journal.json")


def configmap_name(service: str) -> str:
    return f"pgrestore-journal-{service}"


class Journal:
    def __init__(self, path: Path, kube: Kube, namespace: str, data: dict):
        self.path, self.kube, self.namespace, self.data = path, kube, namespace, data
        self.cm_error: str | None = None

    @classmethod
    def fresh(cls, path: Path, kube: Kube, plan: dict) -> "Journal":
        data = {"format_version": FORMAT_VERSION, "plan_checksum": plan["checksum"], "service": plan["service"],
                "namespace": plan["namespace"], "status": "running", "started_at": now(), "updated_at": now(),
                "steps": {s["id"]: {"status": "pending"} for s in plan["steps"]},
                "saved": {}, "rollback": []}
        return cls(path, kube, plan["namespace"], data)

    @classmethod
    def existing(cls, path: Path, kube: Kube, plan: dict) -> "Journal | None":
        """The newer of the local file and the cluster's copy: an apply resumed on another
        machine leaves this machine's file behind, and it must not win."""
        copies = []
        if path.exists():
            copies.append(json.loads(path.read_text()))
        cm = kube.get_configmap(plan["namespace"], configmap_name(plan["service"]))
        if cm and "journal.json" in (cm.get("data") or {}):
            copies.append(json.loads(cm["data"]["journal.json"]))
        copies = [c for c in copies if c.get("plan_checksum") == plan["checksum"]]
        if not copies:
            return None
        return cls(path, kube, plan["namespace"], max(copies, key=lambda c: c["updated_at"]))

    @staticmethod
    def in_cluster(kube: Kube, namespace: str, service: str) -> dict | None:
        """The latest journal of any plan for this service, as the cluster holds it."""
        cm = kube.get_configmap(namespace, configmap_name(service))
        if cm and "journal.json" in (cm.get("data") or {}):
            return json.loads(cm["data"]["journal.json"])
        return None

    # -- state ---------------------------------------------------------------
    def status_of(self, step_id: str) -> str:
        return self.data["steps"][step_id]["status"]

    def observed(self, step_id: str) -> dict:
        return self.data["steps"][step_id].get("observed") or {}

    def mark(self, step_id: str, status: str, observed: dict | None = None, error: str | None = None) -> None:
        entry = self.data["steps"][step_id]
        entry["status"] = status
        entry["started_at" if status == "running" else "finished_at"] = now()
        if observed is not None:
            entry["observed"] = observed
        if error is not None:
            entry["error"] = error
        self.save()

    def set_status(self, status: str) -> None:
        self.data["status"] = status
        self.save()

    def save_once(self, key: str, name: str, value: dict) -> dict:
        """Persist an original once: a re-run must never overwrite it with a changed copy."""
        saved = self.data["saved"].setdefault(key, {})
        if name not in saved:
            saved[name] = value
            self.save()
        return saved[name]

    def remember(self, key: str, name: str, value: dict) -> None:
        """Persist the latest value (unlike save_once), e.g. the uid of the cluster we created."""
        self.data["saved"].setdefault(key, {})[name] = value
        self.save()

    def saved(self, key: str, name: str) -> dict | None:
        return self.data["saved"].get(key, {}).get(name)

    def add_rollback(self, kind: str, status: str, detail: str) -> None:
        self.data["rollback"].append({"kind": kind, "status": status, "detail": detail, "at": now()})
        self.save()

    # -- persistence ---------------------------------------------------------
    def save(self) -> None:
        self.data["updated_at"] = now()
        validate(self.data, "journal", f"journal {self.path}")
        text = json.dumps(self.data, indent=2, sort_keys=True) + "\n"
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)  # saved specs are not secrets, but they are nobody else's business
        os.replace(tmp, self.path)
        try:
            self.kube.upsert_configmap(self.namespace, configmap_name(self.data["service"]),
                                       {"journal.json": text}, {"app.kubernetes.io/managed-by": "pgrestore"})
            self.cm_error = None
        except KubernetesError as e:
            # The local file is the record; the cluster copy is a courtesy that must not fail a restore.
            self.cm_error = str(e)
