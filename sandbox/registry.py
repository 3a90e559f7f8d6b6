"""clusters.json: which real PostgreSQL server stands behind which `postgresql` resource.

The operator writes it; the node agent, exec, `sandbox backup` and `break` read it.
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


def save_entry(path: Path, key: str, entry: dict | None) -> None:
    with _lock:
        data = load(path)
        if entry is None:
            data.pop(key, None)
        else:
            data[key] = entry
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".clusters.")
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True)
        os.replace(tmp, path)


def server_for(path: Path, namespace: str, name: str) -> PgServer | None:
    entry = load(path).get(cluster_key(namespace, name))
    if entry is None:
        return None
    return PgServer(Path(entry["datadir"]), entry["port"])
