"""A plan is signed with the cluster's plan key (Secret pgrestore-plan-key): one edited after it was
made is refused by apply even when its editor recomputed the checksum, as anyone reading the JSON can
do with a plain sha256. Run through the real CLI entry point (pgrestore.cli.main) on the fakes."""

from __future__ import annotations

import hashlib
import json
import signal

import pytest

from pgrestore import cli
from pgrestore.contract.document import canonical, render, signature
from pgrestore.core.plankey import SECRET
from tests.fakes.rehearsal import NS

from .conftest import user_view


@pytest.fixture(autouse=True)
def signals_kept():
    """apply turns SIGINT and SIGTERM into a rollback; give pytest its own handlers back."""
    kept = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for s, handler in kept.items():
        signal.signal(s, handler)


def _edited(path, resign) -> None:
    """What a hurried hand does to a reviewed plan: scale the client back to 30, not 3; then the
    checksum made to match again."""
    doc = json.loads(path.read_text())
    step = next(s for s in doc["steps"] if s["kind"] == "scale-workload" and s["params"]["replicas"] == 3)
    step["params"]["replicas"] = 30
    doc["checksum"] = resign({k: v for k, v in doc.items() if k != "checksum"})
    path.write_text(render(doc))


def _plain_sha256(body: dict) -> str:
    return "hmac-sha256:" + hashlib.sha256(canonical(body).encode()).hexdigest()


def _wrong_key(body: dict) -> str:
    return signature(body, b"\x01" * 32)


@pytest.mark.parametrize("resign", [_plain_sha256, _wrong_key], ids=["plain-sha256", "wrong-key"])
def test_an_edited_plan_with_its_checksum_recomputed_is_refused_by_apply(rehearsal, capsys, resign):
    path = rehearsal.plan()
    _edited(path, resign)
    before = user_view(rehearsal)
    code = cli.main(["apply", str(path), "--auto-approve"])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 3
    assert len(lines) == 1 and "Traceback" not in lines[0], lines
    assert "was changed after it was made" in lines[0] and f"plan key of namespace {NS}" in lines[0]
    assert user_view(rehearsal) == before, "nothing was touched"


def test_the_plan_as_made_still_applies(rehearsal, capsys):
    path = rehearsal.plan()
    assert rehearsal.kube.obj("Secret", NS, SECRET) is not None, "plan made the key in the service's namespace"
    assert cli.main(["apply", str(path), "--auto-approve"]) == 0, capsys.readouterr().err


def test_rollback_refuses_an_edited_plan_too(rehearsal, capsys):
    path = rehearsal.plan()
    _edited(path, _plain_sha256)
    assert cli.main(["rollback", str(path)]) == 3
    assert "was changed after it was made" in capsys.readouterr().err


def test_a_plan_is_refused_when_the_cluster_has_no_plan_key(rehearsal, capsys):
    """Deleting the Secret is how a key is revoked: every plan signed with it is refused."""
    path = rehearsal.plan()
    del rehearsal.kube.objects[("Secret", NS, SECRET)]
    assert cli.main(["apply", str(path), "--auto-approve"]) == 3
    err = capsys.readouterr().err
    assert f"no Secret {NS}/{SECRET}" in err and "re-run `pgrestore plan`" in err


def test_show_verify_checks_the_signature_as_apply_does(rehearsal, capsys):
    path = rehearsal.plan()
    assert cli.main(["show", str(path), "--verify"]) == 0
    assert "(verified with the cluster's plan key)" in capsys.readouterr().out
    _edited(path, _wrong_key)
    assert cli.main(["show", str(path), "--verify"]) == 3
    assert "was changed after it was made" in capsys.readouterr().err
