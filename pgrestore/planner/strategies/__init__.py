"""Restore strategies: one module each behind one small interface, registered explicitly.

A strategy turns a snapshot into the ordered steps of a restore and the steps that undo
it. Adding one is a module here plus any step kinds it needs in executors/steps.
"""

from __future__ import annotations

from typing import Protocol

from pgrestore.contract.model import ServiceDef, Step

from ..options import Choices
from ..world import Snapshot
from . import in_place, recreate_all, recreate_single


class Strategy(Protocol):
    NAME: str

    def steps(self, snapshot: Snapshot, service: ServiceDef, choices: Choices) -> list[Step]: ...

    def rollback(self, snapshot: Snapshot, service: ServiceDef, choices: Choices, forward: list[Step]) -> list[Step]:
        ...


STRATEGIES: dict[str, Strategy] = {
    recreate_single.NAME: recreate_single,
    recreate_all.NAME: recreate_all,
    in_place.NAME: in_place,
}
