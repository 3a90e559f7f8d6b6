"""The journal document, read in one place: by apply and resume (executors/journal.py), by `plan`'s refusal
while an apply is under way (commands/plan.py) and by spec recovery from the last delete (planner/read.py).

A journal lives in a file beside the plan and in ConfigMap `pgrestore-journal-<service>`, key `journal.json`.
"""

from __future__ import annotations

import json

from pgrestore.contract.model import JOURNAL_FORMAT, JournalData, from_dict, journal_configmap_name
from pgrestore.contract.schema import errors as schema_errors
from pgrestore.errors import PlanRejected

KEY = "journal.json"
FINAL = ("done", "failed", "rolled-back", "rollback-incomplete")
UNFINISHED = ("running", "waiting", "rolling-back")  # an apply stopped part-way: plan refuses until it is ended

configmap_name = journal_configmap_name


def parse(text: str, where: str) -> JournalData | None:
    """A journal, or None for one of another format; a corrupt one is refused by name."""
    try:
        doc = json.loads(text)
    except ValueError:
        raise PlanRejected(f"journal {where} is not JSON; move it away and re-plan, or restore it from the "
                           f"ConfigMap copy") from None
    if not isinstance(doc, dict) or doc.get("format_version") != JOURNAL_FORMAT:
        return None
    problems = schema_errors(doc, "journal")
    if problems:
        raise PlanRejected(f"journal {where} does not match the journal schema at {problems[0]}; move it away")
    return from_dict(JournalData, doc)


def from_configmap(configmap: dict | None, namespace: str, service: str) -> JournalData | None:
    """The journal a ConfigMap holds (as the Kubernetes adapter returns it), or None if it holds none."""
    text = ((configmap or {}).get("data") or {}).get(KEY)
    if text is None:
        return None
    return parse(text, f"ConfigMap {namespace}/{configmap_name(service)}")
