"""The credential-secret manifest CSM's backup job writes beside a .psql dump (a YAML stream of Secrets)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import yaml

from pgrestore.errors import BackupError


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
        meta: dict = d["metadata"] if isinstance(d.get("metadata"), dict) else {}
        name = meta.get("name")
        if not name:
            raise BackupError(f"manifest {where} has a Secret without a name; choose another backup")
        for key in ("username", "password"):
            if key not in d["data"]:
                raise BackupError(f"manifest {where}: Secret {name} has no {key}; choose another backup")
        try:
            out.append(ManifestSecret(name, _decoded(d["data"]["username"]), _decoded(d["data"]["password"]),
                                      meta.get("labels") or {}))
        except (TypeError, ValueError):
            raise BackupError(f"manifest {where}: Secret {name} has a username or password that is not base64 "
                              f"text; choose another backup") from None
    if not out:
        raise BackupError(f"manifest {where} holds no Secrets; choose another backup")
    _refuse_repeated_names(out, where)
    return tuple(sorted(out, key=lambda s: s.name))


def _refuse_repeated_names(secrets: list[ManifestSecret], where: str) -> None:
    """A name twice is two passwords for one secret: `show` would list one and apply write either."""
    names = [s.name for s in secrets]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise BackupError(f"manifest {where} names Secret {repeated[0]} {names.count(repeated[0])} times; a "
                          f"backup's manifest holds each secret once: choose another backup")


def _decoded(value: str) -> str:
    return base64.b64decode(value, validate=True).decode()


def render_manifest(secrets: list[dict]) -> str:
    """Secrets (as read from the API) in the format CSM's backup job writes: each document
    "\n---\n" + the Secret's apiVersion, kind, type, name, namespace, labels and data
    (postgres_db_backup.py, Cray-HPE/postgres-db-backup 4da3105)."""
    out = []
    for s in secrets:
        meta = s["metadata"]
        metadata = {"name": meta["name"], "namespace": meta.get("namespace"), "labels": meta.get("labels") or {}}
        doc = {"apiVersion": "v1", "kind": "Secret", "type": s.get("type") or "Opaque", "metadata": metadata,
               "data": dict(s.get("data") or {})}
        out.append("\n---\n" + yaml.safe_dump(doc) + "\n")
    return "".join(out)
