"""clusters.json: which real PostgreSQL server stands behind which `postgresql` resource.

An entry also holds what Patroni's DCS would: the leader member and its timeline, and
which members have a data volume. The daemon writes it; exec, `sandbox backup`, `break`
and `status` read it.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path

from .pgserver import PgServer

_lock = threading.Lock()


def cluster_key(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


def load(path: Path) -> dict[str, dict]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}


def _write(path: Path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".clusters.")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
    os.replace(tmp, path)


def save_entry(path: Path, key: str, entry: dict | None) -> None:
    with _lock:
        data = load(path)
        if entry is None:
            data.pop(key, None)
        else:
            data[key] = entry
        _write(path, data)


def update_entry(path: Path, key: str, **fields) -> dict | None:
    """Change some fields of an entry (no-op if it is gone); the agents each own different fields."""
    with _lock:
        data = load(path)
        if key not in data:
            return None
        data[key].update(fields)
        _write(path, data)
        return data[key]


def server_for(path: Path, namespace: str, name: str) -> PgServer | None:
    entry = load(path).get(cluster_key(namespace, name))
    if entry is None:
        return None
    return PgServer(Path(entry["datadir"]), entry["port"])
