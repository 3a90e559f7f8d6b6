"""Service definitions: plans/*.yaml, validated against schemas/service.schema.json."""

from __future__ import annotations

from importlib import resources

import yaml

from pgrestore.errors import UsageError
from pgrestore.schema import validate

DEFAULT_TIMEOUT = 300


def _files():
    return sorted((f for f in resources.files("plans").iterdir() if f.name.endswith(".yaml")), key=lambda f: f.name)


def load_all() -> dict[str, dict]:
    out = {}
    for f in _files():
        definition = yaml.safe_load(f.read_text())
        validate(definition, "service", f"plans/{f.name}")
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
