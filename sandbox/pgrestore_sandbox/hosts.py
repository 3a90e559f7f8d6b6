"""The management nodes as the admin node reaches them: a `pdsh` stand-in over modelled hosts.

CSM's Spire restore ends by restarting `spire-agent` on every management node with
`pdsh -S -w ncn-m00[1-3],ncn-w00[1-3],ncn-s00[1-3] 'systemctl restart spire-agent'` and checks
one with `heartbeat-spire-agent api fetch jwt` (csm-procedures.md §1, Spire row). `sandbox up`
installs `<state>/bin/pdsh`, which runs this module; `sandbox env` puts it on PATH.

What it models of pdsh 2.x (pdsh(1)): `-w` takes a comma list and `prefix[a-b]` ranges; every
output line is prefixed `<host>: `; a host that cannot be reached prints ssh's error and counts
as exit 255; with `-S` pdsh exits with the largest remote exit status, without it 0 unless a
connection failed (then 1).

Each host keeps its units in `<state>/hosts/<host>.json`. The settings' `failing_hosts` drill
makes `systemctl restart spire-agent` fail there as systemd reports it. An agent hands out a JWT
only if it was restarted after the Spire datastore's cluster was (re-)created: an agent that kept
running across the restore holds entries the restored server no longer has.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
import time
from pathlib import Path

from .paths import StateDir, default_state_dir
from .settings import load as load_settings

STORAGE_NODES = ("ncn-s001", "ncn-s002", "ncn-s003")  # Ceph nodes: no kubelet, reached over ssh only
SPIRE_CLUSTER = ("spire", "spire-postgres")
ADMIN = "ncn-m001"


def install_pdsh(state: StateDir) -> Path:
    """<state>/bin/pdsh: this module, with the state dir and this interpreter baked in."""
    bindir = state.root / "bin"
    bindir.mkdir(exist_ok=True)
    wrapper = bindir / "pdsh"
    package_root = Path(__file__).resolve().parent.parent
    wrapper.write_text(f"#!/bin/sh\nPGRESTORE_SANDBOX_DIR={shlex.quote(str(state.root))} "
                       f"PYTHONPATH={shlex.quote(str(package_root))} "
                       f"exec {shlex.quote(sys.executable)} -m pgrestore_sandbox.hosts \"$@\"\n")
    wrapper.chmod(0o755)
    hosts = state.root / "hosts"
    hosts.mkdir(exist_ok=True)
    (hosts / "booted").write_text(f"{time.time()}\n")  # after the clusters were seeded: agents are current
    return bindir


def known_hosts(state: StateDir) -> list[str]:
    from .kube import Api, name_of
    nodes = [name_of(n) for n in Api.from_kubeconfig(state.kubeconfig).core.list_node().items]
    return sorted(set(nodes) | set(STORAGE_NODES))


def expand(hostlist: str) -> list[str]:
    """pdsh's -w: `a,b,ncn-w00[1-3]` → each host."""
    out: list[str] = []
    for part in re.findall(r"[^,\[]+(?:\[[^\]]*\])?", hostlist):
        part = part.strip(",")
        m = re.fullmatch(r"(.*)\[(.*)\]", part)
        if not m:
            out.append(part)
            continue
        for rng in m.group(2).split(","):
            lo, _, hi = rng.partition("-")
            width = len(lo)
            for i in range(int(lo), int(hi or lo) + 1):
                out.append(f"{m.group(1)}{i:0{width}d}")
    return out


def main(argv: list[str]) -> int:
    largest, hostlist, i = False, "", 0
    while i < len(argv) and argv[i].startswith("-"):
        if argv[i] == "-S":
            largest = True
        elif argv[i] == "-w":
            i += 1
            hostlist = argv[i] if i < len(argv) else ""
        i += 1
    command = " ".join(argv[i:])
    if not hostlist or not command:
        print("Usage: pdsh [-S] -w hosts command", file=sys.stderr)
        return 1
    state = StateDir(default_state_dir())
    known = set(known_hosts(state))
    statuses, unreachable = [], False
    for host in expand(hostlist):
        if host not in known:
            print(f"pdsh@{ADMIN}: {host}: ssh: Could not resolve hostname {host}: Name or service not known",
                  file=sys.stderr)
            print(f"pdsh@{ADMIN}: {host}: ssh exited with exit code 255", file=sys.stderr)
            statuses.append(255)
            unreachable = True
            continue
        code, out, err = Host(state, host).run(command)
        for line in out.splitlines():
            print(f"{host}: {line}")
        for line in err.splitlines():
            print(f"{host}: {line}", file=sys.stderr)
        if code:
            print(f"pdsh@{ADMIN}: {host}: ssh exited with exit code {code}", file=sys.stderr)
        statuses.append(code)
    if largest:
        return max(statuses)
    return 1 if unreachable else 0


class Host:
    def __init__(self, state: StateDir, name: str):
        self.state, self.name = state, name
        self.path = state.root / "hosts" / f"{name}.json"

    def units(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            booted = float((self.path.parent / "booted").read_text())
            return {"spire-agent": {"active": True, "restarted_at": booted, "restarts": 0}}

    def _save(self, units: dict) -> None:
        self.path.parent.mkdir(exist_ok=True)
        self.path.write_text(json.dumps(units))

    def run(self, command: str) -> tuple[int, str, str]:
        words = shlex.split(command)
        if words[:2] == ["systemctl", "restart"] and len(words) == 3:
            return self._restart(words[2].removesuffix(".service"))
        if words[:2] == ["systemctl", "is-active"] and len(words) == 3:
            active = self.units().get(words[2].removesuffix(".service"), {}).get("active")
            return (0, "active\n", "") if active else (3, "failed\n", "")
        if words and words[0].endswith("heartbeat-spire-agent") and words[1:4] == ["api", "fetch", "jwt"]:
            return self._fetch_jwt()
        return 127, "", f"bash: {words[0] if words else ''}: command not found\n"

    def _restart(self, unit: str) -> tuple[int, str, str]:
        units = self.units()
        if unit not in units:
            return 5, "", f"Failed to restart {unit}.service: Unit {unit}.service not found.\n"
        if self.name in load_settings(self.state).failing_hosts:
            units[unit]["active"] = False
            self._save(units)
            return 1, "", (f"Job for {unit}.service failed because the control process exited with error code.\n"
                           f"See \"systemctl status {unit}.service\" and \"journalctl -xe\" for details.\n")
        units[unit] = {"active": True, "restarted_at": time.time(), "restarts": units[unit]["restarts"] + 1}
        self._save(units)
        return 0, "", ""

    def _fetch_jwt(self) -> tuple[int, str, str]:
        agent = self.units()["spire-agent"]
        if not agent["active"]:
            return 1, "", "rpc error: code = Unavailable desc = connection error: dial unix /root/spire/agent.sock\n"
        if agent["restarted_at"] < _spire_datastore_created(self.state):
            return 1, "", "rpc error: code = PermissionDenied desc = no identity issued\n"
        token = f"eyJhbGciOiJFUzI1NiJ9.{self.name}.{int(agent['restarted_at'])}"
        return 0, f"token(spiffe://shasta/{self.name}/workload):\n\t{token}\n", ""


def _spire_datastore_created(state: StateDir) -> float:
    """When the Spire datastore's postgresql resource was created (0 if it is gone)."""
    from datetime import datetime, timezone

    from .kube import CRD_GROUP, CRD_PLURAL, CRD_VERSION, Api, as_dict
    api = Api.from_kubeconfig(state.kubeconfig)
    try:
        pg = api.custom.get_namespaced_custom_object(CRD_GROUP, CRD_VERSION, SPIRE_CLUSTER[0], CRD_PLURAL,
                                                     SPIRE_CLUSTER[1])
    except Exception:  # noqa: BLE001 - no cluster: no server, nothing issued since
        return float("inf")
    stamp = as_dict(pg)["metadata"]["creationTimestamp"]
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


if __name__ == "__main__":
    os.environ.setdefault("PGRESTORE_SANDBOX_DIR", str(default_state_dir()))
    sys.exit(main(sys.argv[1:]))
