"""The order services are restored in when one plan holds several: each service file's `after`
names what must be back first (SLS before HSM, whose init job reads SLS; Keycloak before Capsules,
which log in through it; Spire before everything, whose workloads attest through it). Only
services in the same plan count; ties keep the order the operator named them in."""

from __future__ import annotations

from graphlib import CycleError, TopologicalSorter

from pgrestore.contract.model import ServiceDef
from pgrestore.errors import ConfigError


def restore_order(chosen: list[ServiceDef]) -> tuple[list[ServiceDef], list[str]]:
    """The services in dependency order, and one line per dependency that applied."""
    by_name = {s.name: s for s in chosen}
    reasons = [f"{s.name} after {dep} ({s.name}'s service file: after)"
               for s in chosen for dep in s.after if dep in by_name]
    graph = TopologicalSorter({s.name: [d for d in s.after if d in by_name] for s in chosen})
    try:
        graph.prepare()
    except CycleError as e:
        raise ConfigError(f"service files name each other in `after` in a circle ({' -> '.join(e.args[1])}); "
                          f"fix their `after` lists") from None
    rank = {s.name: i for i, s in enumerate(chosen)}
    ordered: list[str] = []
    while graph.is_active():
        ready = sorted(graph.get_ready(), key=rank.__getitem__)
        ordered += ready
        graph.done(*ready)
    return [by_name[n] for n in ordered], reasons
