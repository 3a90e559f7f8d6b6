"""manual: a step only an operator can do (no pdsh where apply runs, `--no-host-steps`, or a
command that needs their login). apply stops here — not a failure, nothing rolls back — and
prints the command; `apply --resume --confirm STEP` records that they ran it and goes on."""

from __future__ import annotations

from typing import cast

from pgrestore.contract.model import Step
from pgrestore.contract.params import ManualParams
from pgrestore.errors import AwaitingOperator

from ..context import Context


def run(step: Step, ctx: Context) -> dict:
    if step.id in ctx.confirmed:
        return {"confirmed_by_operator": True}
    p = cast(ManualParams, step.params)
    expect = p["expect_output"]
    check = f" (its output must match /{expect}/)" if expect else ""
    raise AwaitingOperator(f"step {step.id} is manual: run `{p['command']}`{check}", step.id)
