"""The credential-secret manifest CSM's backup job writes beside a .psql dump (a YAML stream of Secrets)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import yaml

from core.errors import BackupError


@dataclass(frozen=True)
class ManifestSecret:
    name: str
    username: str
    password: str = field(repr=False)
    labels: dict = field(default_factory=dict)


def parse_manifest(text: str, where: str) -> tuple[ManifestSecret, ...]:
    try:
        docs = [d for d in yaml.safe_load_all(text) if d]
    except yaml.YAMLError as e:
        raise BackupError(f"manifest {where} is not valid YAML ({type(e).__name__}); choose another backup") from None
    out = []
    for d in docs:
        if not isinstance(d, dict) or d.get("kind") != "Secret" or not isinstance(d.get("data"), dict):
            kind = d.get("kind") if isinstance(d, dict) else type(d).__name__
            raise BackupError(f"manifest {where} holds a {kind!r}, not only Secrets with data; choose another backup")
        try:
            out.append(ManifestSecret(d["metadata"]["name"], _decoded(d["data"]["username"]),
                                      _decoded(d["data"]["password"]), d["metadata"].get("labels") or {}))
        except (KeyError, TypeError, ValueError):
            raise BackupError(f"manifest {where} has a Secret without name, username or password; "
                              f"choose another backup") from None
    return tuple(sorted(out, key=lambda s: s.name))


def _decoded(value: str) -> str:
    return base64.b64decode(value, validate=True).decode()
