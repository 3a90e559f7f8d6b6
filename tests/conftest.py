"""A sandbox for the whole test session, brought up once and torn down at the end.

Set PGRESTORE_TEST_SANDBOX_DIR to reuse a running sandbox across runs (faster locally);
otherwise a fresh one is made under /var/tmp and wiped afterwards.
"""

from __future__ import annotations

import importlib.util
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # the sandbox's packages (its extra) are imported only by the tests that use it
    from pgrestore_sandbox.kube import Api
    from pgrestore_sandbox.paths import StateDir

# The leak scan (tests/leakscan.py): no password in anything pgrestore wrote or said this session.
pytest_plugins = ("tests.leakscan",)


@dataclass
class Sandbox:
    state: StateDir
    api: Api

    @property
    def s3_endpoint(self) -> str:
        return json.loads(self.state.config.read_text())["s3_endpoint"]


@pytest.fixture(scope="session")
def sandbox() -> Sandbox:
    from pgrestore_sandbox import lifecycle
    from pgrestore_sandbox.kube import Api
    from pgrestore_sandbox.paths import StateDir

    reuse = os.environ.get("PGRESTORE_TEST_SANDBOX_DIR")
    if reuse and os.environ.get("PYTEST_XDIST_WORKER"):
        pytest.exit("PGRESTORE_TEST_SANDBOX_DIR is one sandbox for one session: run the sandbox layer with -n 0", 4)
    root = Path(reuse) if reuse else Path(tempfile.mkdtemp(prefix="pgrestore-test-sandbox-", dir="/var/tmp"))
    root.chmod(0o755)  # the `postgres` user must reach the data directories
    state = StateDir(root)
    # CSM's schedules (e.g. 02:10 UTC) would fire real backup runs in a session that spans them;
    # tests that want one run it by hand (sandbox backup-job), which still backs up.
    lifecycle.up(state, scheduled_backups=False)
    yield Sandbox(state=state, api=Api.from_kubeconfig(state.kubeconfig))
    if not reuse:
        lifecycle.down(state, wipe=True)


@pytest.fixture(scope="session")
def seeded_data(sandbox) -> dict:
    """Every service's tables as seeded, before the first test that asks changes them: what a test that
    failed is healed back to (tests/apply/heal.py)."""
    from tests.apply.heal import data_baseline
    return data_baseline(sandbox)


SANDBOX_EXTRA = ("psycopg", "moto", "aiohttp")  # pyproject's `sandbox` extra
SANDBOX_FOLDERS = ("apply", "sandbox")  # every test in these needs the sandbox; their conftests import it


def pytest_ignore_collect(collection_path, config):
    """The fast layer (`-m "not sandbox"`) runs with only the `test` extra installed: the folders
    whose tests all need the sandbox are not even imported then. With the extra, or without the
    marker filter, everything is collected (and fails loudly if the extra is missing)."""
    if "not sandbox" not in (config.getoption("markexpr") or ""):
        return None
    if all(importlib.util.find_spec(m) is not None for m in SANDBOX_EXTRA):
        return None
    here = Path(__file__).parent
    return collection_path.parent == here and collection_path.name in SANDBOX_FOLDERS or None


# Tests that start real servers of their own (PostgreSQL, S3 over HTTP, a TLS fault proxy, an exec endpoint)
# but need no sandbox: the `servers` layer.
SERVER_MODULES = ("tests/core/test_restore_errors.py", "tests/core/test_scram.py", "tests/faults/")


def pytest_collection_modifyitems(config, items):
    """The layers, by marker: `sandbox` (needs the rehearsal sandbox: tests that use its fixture), `servers`
    (real servers of their own, SERVER_MODULES), and the fast layer of pure tests, neither. The fast layer
    runs first, so a mistake there shows before any server starts."""
    root = Path(__file__).resolve().parent.parent
    for item in items:
        if "sandbox" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.sandbox)
        elif Path(item.fspath).resolve().relative_to(root).as_posix().startswith(SERVER_MODULES):
            item.add_marker(pytest.mark.servers)
    items.sort(key=lambda item: (item.get_closest_marker("sandbox") is not None,
                                 item.get_closest_marker("servers") is not None,
                                 _slow_rank(Path(item.fspath).name)))


# The sandbox layer's longest files (minutes each, on 2 cores), handed out first: its workers take a file at a
# time (--dist loadfile), so a long file started last would run on alone at the end.
SLOW_FIRST = ("test_plan_set.py", "test_kill_points.py", "test_in_cluster.py", "test_fidelity.py", "test_resilience.py",
              "test_restore.py", "test_onefile.py", "test_faults.py", "test_services.py", "test_refusals.py")


def _slow_rank(name: str) -> int:
    return SLOW_FIRST.index(name) if name in SLOW_FIRST else len(SLOW_FIRST)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Each phase's report on the test item (`rep_call`): fixtures that heal after a failure read it."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
