"""Service definitions: plans/*.yaml, validated against schemas/service.schema.json."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import yaml

from pgrestore.errors import UsageError
from pgrestore.schema import validate

DEFAULT_TIMEOUT = 300


def _files():
    """The shipped definitions, then any in $PGRESTORE_SERVICES_DIR (site-specific services)."""
    found = [f for f in resources.files("plans").iterdir() if f.name.endswith(".yaml")]
    if extra := os.environ.get("PGRESTORE_SERVICES_DIR"):
        found += [f for f in Path(extra).iterdir() if f.name.endswith(".yaml")]
    return sorted(found, key=lambda f: f.name)


def load_all() -> dict[str, dict]:
    out = {}
    for f in _files():
        definition = yaml.safe_load(f.read_text())
        validate(definition, "service", str(f))
        out[definition["name"]] = definition
    return out


def load(name: str) -> dict:
    services = load_all()
    if name not in services:
        raise UsageError(f"unknown service {name!r}; `pgrestore services` lists: {', '.join(services)}")
    return services[name]


def timeout_for(service: dict, step_kind: str) -> int:
    timeouts = service.get("timeouts") or {}
    return int(timeouts.get(step_kind, timeouts.get("default", DEFAULT_TIMEOUT)))
