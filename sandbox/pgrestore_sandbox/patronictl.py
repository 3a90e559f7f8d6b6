"""`patronictl list [-f json]` inside a sandbox Spilo pod.

The exec server passes the members (pod name, role from the leader key, state, timeline)
in the environment; this prints them the way Patroni 2.1.4 does (patroni/ctl.py output_members).
"""

from __future__ import annotations

import json
import os
import sys


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "list":
        print("sandbox patronictl supports only: list [-f json|pretty]", file=sys.stderr)
        return 2
    fmt = argv[argv.index("-f") + 1] if "-f" in argv else "pretty"
    cluster = os.environ.get("PATRONI_CLUSTER", "")
    members = json.loads(os.environ.get("PATRONI_MEMBERS_JSON", "[]"))
    rows = [{"Cluster": cluster, **m, **({} if m["Role"] == "Leader" else {"Lag in MB": 0})} for m in members]
    if fmt == "json":
        print(json.dumps(rows))
        return 0
    cols = ["Member", "Host", "Role", "State", "TL", "Lag in MB"]
    cells = [[str(r.get(c, "")) for c in cols] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(cols)]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    print(f"+ Cluster: {cluster} " + rule[len(cluster) + 12:])
    print("| " + " | ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)) + " |")
    print(rule)
    for row in cells:
        print("| " + " | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) + " |")
    print(rule)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
