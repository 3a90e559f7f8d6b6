"""Fixtures for the sandbox's own tests."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from pgrestore_sandbox import cronjobs, settings


@pytest.fixture
def sandbox_settings(sandbox):
    """Change the running sandbox's settings for one test; they are put back afterwards."""
    before = settings.load(sandbox.state)

    def change(**values) -> settings.Settings:
        return settings.update(sandbox.state, **values)

    yield change
    settings.update(sandbox.state, **asdict(before))


PROBE_NS = "default"
PROBES = ("sandbox-cron-probe", "sandbox-cron-probe-suspended")


@pytest.fixture(scope="session", autouse=True)
def cron_probes(sandbox):
    """Two every-minute CronJobs made as the session starts, the second suspended: by the time
    test_workloads' schedule test runs, kube-controller-manager's cronjob controller has had
    its minute. Their Jobs' pods run nothing (the node agent completes them)."""
    for name in PROBES:
        cronjobs.create(sandbox.api, PROBE_NS, {
            "apiVersion": cronjobs.API_VERSION, "kind": "CronJob", "metadata": {"name": name},
            "spec": {"schedule": "* * * * *", "suspend": name.endswith("suspended"), "jobTemplate": {"spec": {
                "template": {"spec": {"restartPolicy": "Never", "containers": [
                    {"name": "probe", "image": "artifactory.algol60.net/csm-docker/stable/busybox:sandbox"}]}}}}},
        })
    yield PROBES
    for name in PROBES:
        cronjobs.delete(sandbox.api, PROBE_NS, name, propagation="Background")


@pytest.fixture(autouse=True)
def heal_after_failure(request, sandbox, seeded_data):
    """A test that fails leaves the sandbox as the next test needs it (tests/apply/heal.py)."""
    from tests.apply.heal import daemon_log_offset, heal_if_failed
    log_from = daemon_log_offset(sandbox)
    yield
    heal_if_failed(request.node, sandbox, seeded_data, log_from)
