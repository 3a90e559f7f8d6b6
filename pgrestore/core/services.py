"""Service definitions: plans/*.yaml, validated against schemas/service.schema.json."""

from __future__ import annotations

import os
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

import yaml

from pgrestore.contract.model import ServiceDef, from_dict
from pgrestore.contract.schema import errors as schema_errors
from pgrestore.core import kinds
from pgrestore.errors import ConfigError, UsageError


def _shipped() -> list[Traversable]:
    shipped = resources.files("pgrestore.services").iterdir()
    return sorted((f for f in shipped if f.name.endswith(".yaml")), key=lambda f: f.name)


def _site() -> list[Path]:
    """Site-specific definitions in $PGRESTORE_SERVICES_DIR, if set."""
    extra = os.environ.get("PGRESTORE_SERVICES_DIR")
    if not extra:
        return []
    folder = Path(extra)
    if not folder.is_dir():
        raise ConfigError(f"PGRESTORE_SERVICES_DIR={extra} is not a folder; unset it or point it at "
                          f"a folder of service definitions")
    return sorted((f for f in folder.iterdir() if f.name.endswith(".yaml")), key=lambda f: f.name)


def _parse(f: Traversable) -> ServiceDef:
    try:
        doc = yaml.safe_load(f.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"service definition {f} is not valid YAML ({type(e).__name__}); fix or remove it") from None
    problems = schema_errors(doc, "service")
    if problems:
        raise ConfigError(f"service definition {f} does not match the service schema at {problems[0]}; fix it")
    return from_dict(ServiceDef, doc)


def load_all() -> dict[str, ServiceDef]:
    """The shipped definitions, then the site's: a site definition with a shipped name replaces it,
    whatever its file is called. Two site files for one service are refused: which one wins
    would depend on file names."""
    services = {s.name: s for s in map(_parse, _shipped())}
    site_files: dict[str, Path] = {}
    for f in _site():
        service = _parse(f)
        if service.name in site_files:
            raise ConfigError(f"service {service.name!r} is defined twice in PGRESTORE_SERVICES_DIR "
                              f"({site_files[service.name].name} and {f.name}); keep one of them")
        site_files[service.name] = f
        services[service.name] = service
    return services


def load(name: str) -> ServiceDef:
    services = load_all()
    if name not in services:
        raise UsageError(f"unknown service {name!r}; `pgrestore services` lists: {', '.join(services)}")
    return services[name]


def timeout_for(service: ServiceDef, step_kind: str) -> int:
    own = service.timeouts
    if step_kind in own:
        return int(own[step_kind])
    if "default" in own:
        return int(own["default"])
    return kinds.kind(step_kind).timeout
