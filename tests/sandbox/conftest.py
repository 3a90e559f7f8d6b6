"""Fixtures for the sandbox's own tests."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from sandbox import settings


@pytest.fixture
def sandbox_settings(sandbox):
    """Change the running sandbox's settings for one test; they are put back afterwards."""
    before = settings.load(sandbox.state)

    def change(**values) -> settings.Settings:
        return settings.update(sandbox.state, **values)

    yield change
    settings.update(sandbox.state, **asdict(before))
