"""The order a plan set restores services in: the service files' `after`, only among those chosen."""

from __future__ import annotations

import pytest

from pgrestore.contract.model import ServiceDef, WorkloadRef
from pgrestore.core import services
from pgrestore.errors import ConfigError
from pgrestore.planner.order import restore_order


def _names(names: list[str]) -> list[str]:
    return [s.name for s in restore_order([services.load(n) for n in names])[0]]


@pytest.mark.parametrize("asked,expected", [
    (["sls", "hsm", "keycloak"], ["sls", "keycloak", "hsm"]),
    (["hsm", "sls"], ["sls", "hsm"]),
    (["capsules-warehouse", "keycloak"], ["keycloak", "capsules-warehouse"]),
    (["keycloak", "capsules-dispatch", "spire"], ["spire", "keycloak", "capsules-dispatch"]),
    (["vcs", "capsules-warehouse"], ["vcs", "capsules-warehouse"]),  # no dependency: as named
    (["capsules-warehouse", "vcs"], ["capsules-warehouse", "vcs"]),
])
def test_dependencies_order_the_services_asked_for(asked, expected):
    assert _names(asked) == expected


def test_all_services_spire_first_sls_before_hsm_keycloak_before_capsules():
    order = _names(list(services.load_all()))
    assert order[0] == "spire"
    assert order.index("sls") < order.index("hsm")
    assert order.index("keycloak") < min(order.index("capsules-warehouse"), order.index("capsules-dispatch"))
    assert sorted(order) == sorted(services.load_all())


def test_reasons_name_each_dependency_that_applied():
    _, reasons = restore_order([services.load("hsm"), services.load("sls")])
    assert reasons == ["hsm after sls (hsm's service file: after)"]


def _svc(name: str, after: list[str]) -> ServiceDef:
    return ServiceDef(name, "", "ns", f"{name}-postgres", "recreate-single", WorkloadRef("Deployment", name),
                      after=after)


def test_a_circle_of_dependencies_is_a_configuration_error():
    with pytest.raises(ConfigError, match="in a circle"):
        restore_order([_svc("a", ["b"]), _svc("b", ["a"])])
