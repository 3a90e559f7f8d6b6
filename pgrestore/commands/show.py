"""`pgrestore show`: render a plan or plan set for review. Without --verify it only renders (no
cluster needed, so a reviewer can read a plan attached to a change request) and says the
signature was not checked; with --verify it first checks the signature with the cluster's plan
key, as apply does, and refuses (exit 3) a plan that does not verify."""

from __future__ import annotations

from pathlib import Path

from pgrestore import show as render
from pgrestore.adapters.connect import Connection
from pgrestore.contract.model import PlanSet
from pgrestore.contract.planset import load_any, read_any_unverified
from pgrestore.executors import engine


def run(plan_file: Path, *, markdown: bool, verify: bool, connection: Connection) -> str:
    if verify:
        loaded = load_any(plan_file, engine.plan_keys(engine.Options(connection=connection)))
    else:
        loaded = read_any_unverified(plan_file)
    if isinstance(loaded, PlanSet):
        return render.set_as_markdown(loaded, verify) if markdown else render.set_as_text(loaded, verify)
    return render.as_markdown(loaded, verify) if markdown else render.as_text(loaded, verify)
