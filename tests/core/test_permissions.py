"""deploy/rbac.yaml grants exactly pgrestore/core/permissions.py's table, and the table covers every adapter call."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import yaml

from pgrestore.adapters.connect import S3Options
from pgrestore.adapters.kube import Kube
from pgrestore.core import permissions
from pgrestore.executors.registry import STEP_KINDS

ROOT = Path(__file__).resolve().parents[2]
STEPS_DIR = ROOT / "pgrestore" / "executors" / "steps"
SUPPORT_DIR = ROOT / "pgrestore" / "executors" / "support"
CALL = re.compile(r"\bkube\.(\w+)\(")
# Helpers that take the adapter (core/pods.py, pgrestore/adapters/psql.py) and what they call on it.
HELPERS = {r"\bpods\.find_leader\(": {"list_pods", "exec"}, r"\bpods\.wait_leader\(": {"wait_pods", "exec"},
           r"\bpods\.leader_from_patroni\(": {"exec"}, r"\bctx\.psql\.": {"exec"}}


def _docs() -> list[dict]:
    return [d for d in yaml.safe_load_all((ROOT / "deploy" / "rbac.yaml").read_text()) if d]


def _granted() -> set[tuple[str, str, str, str, str]]:
    """(group, resource, subresource, verb, namespace) the ServiceAccount gets; namespace "" cluster-wide."""
    docs = _docs()
    roles = {(d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d
             for d in docs if d["kind"] in ("Role", "ClusterRole")}
    out = set()
    for b in (d for d in docs if d["kind"] in ("RoleBinding", "ClusterRoleBinding")):
        assert b["subjects"] == [{"kind": "ServiceAccount", "name": "pgrestore", "namespace": "services"}]
        where = b["metadata"]["namespace"] if b["kind"] == "RoleBinding" else ""
        ref = b["roleRef"]
        role = roles[(ref["kind"], where if ref["kind"] == "Role" else "", ref["name"])]
        for rule in role["rules"]:
            for group in rule["apiGroups"]:
                for res in rule["resources"]:
                    resource, _, sub = res.partition("/")
                    out |= {(group, resource, sub, verb, where) for verb in rule["verbs"]}
    return out


def _table_in(ns: str) -> set[tuple[str, str, str, str, str]]:
    return {(n.group, n.resource, n.subresource, n.verb, ns if n.scope == permissions.SERVICE else n.scope)
            for n in permissions.table()}


def test_manifest_grants_exactly_the_table():
    granted, wanted = _granted(), _table_in("services")
    assert granted - wanted == set(), "granted but never used"
    assert wanted - granted == set(), "used but not granted"


def test_manifest_has_the_service_account_and_no_wildcards():
    docs = _docs()
    assert {"kind": "ServiceAccount", "name": "pgrestore", "namespace": "services"} in [
        {"kind": d["kind"], **{k: d["metadata"].get(k) for k in ("name", "namespace")}} for d in docs]
    for d in docs:
        for rule in d.get("rules") or []:
            assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]
            assert "resourceNames" not in rule  # plan's access reviews ask without a name


def test_every_adapter_method_has_a_row():
    public = {n for n, _ in inspect.getmembers(Kube, inspect.isfunction) if not n.startswith("_")}
    assert public == set(permissions.METHODS)


def _calls(path: Path, seen: set[Path] | None = None) -> set[str]:
    """The adapter methods a step module calls, itself or through the helper modules it uses
    (executors/support/*.py, which a helper may use in turn)."""
    seen = seen if seen is not None else set()
    if path in seen:
        return set()
    seen.add(path)
    text = path.read_text()
    found = set(CALL.findall(text))
    for pattern, methods in HELPERS.items():
        if re.search(pattern, text):
            found |= methods
    helpers = re.findall(r"^from \.\.?support\.(\w+) import", text, re.M)
    helpers += [m for group in re.findall(r"^from \.\.?support import ([\w, ]+?)(?: as \w+)?$", text, re.M)
                for m in group.replace(" ", "").split(",")]
    helpers += re.findall(r"^from \.(\w+) import", text, re.M) if path.parent == SUPPORT_DIR else []
    for helper in helpers:
        found |= _calls(SUPPORT_DIR / f"{helper}.py", seen)
    return found


def test_every_step_kind_has_a_row_covering_the_adapter_methods_it_calls():
    assert set(STEP_KINDS) == set(permissions.STEPS)
    for kind, module in STEP_KINDS.items():
        used = _calls(STEPS_DIR / f"{module.__name__.rsplit('.', 1)[1]}.py")
        assert used <= set(permissions.METHODS), (kind, used - set(permissions.METHODS))
        assert used <= permissions.STEPS[kind], (kind, used - permissions.STEPS[kind])


def test_plan_and_apply_machinery_is_covered():
    def used(*paths: str) -> set[str]:
        return {m for p in paths for m in CALL.findall((ROOT / p).read_text())}
    assert used("pgrestore/planner/read.py", "pgrestore/commands/plan.py") - {"can_i"} <= permissions.PLAN
    apply_files = ("pgrestore/executors/engine.py", "pgrestore/executors/lock.py", "pgrestore/executors/journal.py")
    assert used(*apply_files) <= permissions.APPLY
    assert used("pgrestore/adapters/connect.py") == {"read_secret"}  # the S3 keys: S3_KEYS


def test_required_resolves_scopes_for_the_service():
    from pgrestore.core import services
    svc = services.load("keycloak")
    need = permissions.required(svc)
    assert ("delete", "acid.zalan.do", "postgresqls", "", "services") in need
    assert ("create", "", "pods", "exec", "services") in need
    assert ("get", "", "namespaces", "", "kube-system") in need
    assert ("list", "batch", "cronjobs", "", "") in need


class _Kube:
    def __init__(self, denied: set[tuple[str, str]]):
        self.denied, self.asked = denied, []

    def can_i(self, verb, group, resource, namespace, subresource=""):
        self.asked.append((verb, group, resource, namespace, subresource))
        return (verb, f"{resource}/{subresource}" if subresource else resource) not in self.denied


def test_check_names_every_missing_verb_and_resource_on_one_line():
    from pgrestore.core import services
    from pgrestore.errors import PermissionDenied
    svc = services.load("keycloak")
    permissions.check(_Kube(set()), svc)
    try:
        permissions.check(_Kube({("delete", "postgresqls"), ("create", "pods/exec")}), svc)
    except PermissionDenied as e:
        assert e.exit_code == 77
        text = str(e)
        assert "delete postgresqls" in text and "create pods/exec" in text and "\n" not in text
    else:
        raise AssertionError("no PermissionDenied")


def test_check_skips_the_s3_secret_when_keys_are_given():
    from pgrestore.core import services
    svc = services.load("keycloak")
    kube = _Kube(set())
    permissions.check(kube, svc, S3Options(endpoint="http://x", access_key="a", secret_key="b"))
    assert ("get", "", "secrets", "services", "") in kube.asked  # still: the service's own secrets
    kube = _Kube(set())
    permissions.check(kube, svc, S3Options(namespace="other"))
    assert ("get", "", "secrets", "other", "") in kube.asked
