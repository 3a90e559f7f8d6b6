"""Every stream of an apply against the plain tool for the same bytes, and apply's peak memory.

Usage: python benchmarks/streams.py [--mb 1024] [--state-dir DIR] [--keep]
Needs a running sandbox (pgrestore sandbox up). Grows keycloak's database by --mb, takes a
backup, plans and applies it (`pgrestore apply` as a child process reporting its own peak RSS,
Linux's VmHWM: sandbox/peak.py), then `pgrestore rollback` (which restores the safety dump).
For each stream it prints bytes, seconds (the stream's own, `stream_seconds` in the journal where the step
records it; else the step's), MB/s, the plain tools' seconds for the same bytes and the ratio plain/ours
(>= 0.8 is the goal):

| stream | ours | plain tool |
|---|---|---|
| verify-backup | read the dump from S3, check it | one GET of it with boto3 into a file |
| pin-backup | server-side copy | one CopyObject (`aws s3api copy-object`; up to 5 GiB) |
| safety-dump | pg_dumpall -c in the leader over exec, into S3 | kubectl exec … pg_dumpall -c > file, then upload |
| restore-dump, rollback restore | over exec into psql in the new leader | `kubectl exec -i … psql` into a new cluster |
| | | the limit: psql -f into a bare local server |

Without --keep the grown table, the backup and the plan's S3 objects are removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from pgrestore_sandbox import registry
from pgrestore_sandbox import s3 as sandbox_s3
from pgrestore_sandbox.backup import backup
from pgrestore_sandbox.drills import grow
from pgrestore_sandbox.paths import StateDir, default_state_dir
from pgrestore_sandbox.peak import run_with_peak
from pgrestore_sandbox.pgserver import discard, pg_bin, scratch_server

NS, CLUSTER, BUCKET = "services", "keycloak-postgres", "postgres-backup"
BENCH = "keycloak-bench"  # a cluster of the benchmark's own, for the runbook's restore


def cli_env(state: StateDir) -> dict[str, str]:
    return {**os.environ, "KUBECONFIG": str(state.kubeconfig), "PGRESTORE_SANDBOX_DIR": str(state.root),
            "PATH": f"{state.root / 'bin'}:{os.environ['PATH']}"}


# step id -> the highest RSS (MiB) seen while the journal said that step was running (last run)
STEP_RSS: dict[str, float] = {}


def pgrestore(state: StateDir, *args: str, journal: Path | None = None) -> tuple[int, float, float]:
    """Run the CLI as a child: (exit code, seconds, its own peak RSS in MiB: sandbox/peak.py says why not
    wait4's). With `journal`, its RSS is also sampled every 20 ms against the step the journal says is
    running (STEP_RSS)."""
    start = time.monotonic()
    STEP_RSS.clear()
    sampling = threading.Event()
    if journal is not None:
        threading.Thread(target=_sample_steps, args=(args, journal, sampling), daemon=True).start()
    rc, peak, err = run_with_peak(list(args), cli_env(state))
    sampling.set()
    if rc:
        print(err[-2000:], file=sys.stderr)
    return rc, time.monotonic() - start, peak


def _sample_steps(args: tuple[str, ...], journal: Path, done: threading.Event) -> None:
    pid, step = None, "(start)"
    while not done.is_set():
        time.sleep(0.02)
        pid = pid or _child_running(args)
        try:
            doc = json.loads(journal.read_text())
            step = next((sid for sid, rec in {**doc["steps"], **doc["rollback"]}.items()
                         if rec.get("status") == "running"), step)
        except (OSError, ValueError, KeyError):
            pass
        try:
            status = Path(f"/proc/{pid}/status").read_text() if pid else ""
        except OSError:
            continue
        rss = next((int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmRSS:")), 0.0)
        if rss:
            STEP_RSS[step] = max(STEP_RSS.get(step, 0.0), rss)


def _child_running(args: tuple[str, ...]) -> int | None:
    """The pid of our child running these arguments (the launcher's python)."""
    me = os.getpid()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1]) != me:
                continue
            if (proc / "cmdline").read_bytes().split(b"\0")[-len(args) - 1:-1] == [a.encode() for a in args]:
                return int(proc.name)
        except (OSError, ValueError, IndexError):
            continue
    return None


def print_step_rss(title: str) -> None:
    print(f"{title}: peak RSS by step (sampled every 20 ms): "
          + ", ".join(f"{sid} {mib:.0f}" for sid, mib in STEP_RSS.items()), flush=True)


def step_times(journal: Path) -> dict[str, tuple[float, dict]]:
    """step id -> (seconds, observed) from an apply's journal: the stream's own seconds where the step
    records them (`stream_seconds`: not the wait for a leader or the row counts after), else the step's."""
    def t(stamp: str) -> float:
        return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
    data = json.loads(journal.read_text())
    out = {}
    for sid, rec in {**data["steps"], **data["rollback"]}.items():
        if rec.get("started_at") and rec.get("finished_at"):
            observed = rec.get("observed") or {}
            out[sid] = (observed.get("stream_seconds") or t(rec["finished_at"]) - t(rec["started_at"]), observed)
    return out


def timed(fn) -> float:
    start = time.monotonic()
    fn()
    return time.monotonic() - start


def plain_download(s3, key: str, out: Path) -> float:
    """The object streamed to a file by one GET (`aws s3api get-object`). Not `download_file`: its
    parallel ranged GETs make moto read the whole object for each range (slow, and at 4 GiB ten copies
    of it in moto's memory), which would measure moto, not the transfer."""
    def run() -> None:
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"]
        with open(out, "wb") as f:
            for chunk in body.iter_chunks(1024 * 1024):
                f.write(chunk)
    return timed(run)


def plain_dump_and_upload(state: StateDir, leader: str, out: Path, s3, key: str) -> float:
    def run() -> None:
        with open(out, "wb") as f:
            subprocess.run(["kubectl", "exec", "-n", NS, leader, "-c", "postgres", "--", "pg_dumpall", "-c", "-U",
                            "postgres"], stdout=f, check=True, env=cli_env(state))
        s3.upload_file(str(out), BUCKET, key)
    return timed(run)


def plain_kubectl_restore(state: StateDir, leader: str, dump_file: Path) -> float:
    """The runbook's own way: the dump into psql in the leader through `kubectl exec -i`."""
    def run() -> None:
        with open(dump_file, "rb") as dump:
            subprocess.run(["kubectl", "exec", "-i", "-n", NS, leader, "-c", "postgres", "--", "psql", "-U",
                            "postgres", "-d", "postgres", "-q", "-X", "-f", "-"], stdin=dump, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=cli_env(state))
    return timed(run)


@contextmanager
def fresh_cluster(state: StateDir) -> Iterator[str]:
    """A cluster made from keycloak's spec, as the runbook re-creates one before its restore (Spilo's
    bootstrap objects, the sessions Patroni and the exporter hold): its leader's pod name. Deleted after."""
    def kubectl(*args: str, stdin: str | None = None) -> str:
        return subprocess.run(["kubectl", *args], input=stdin, capture_output=True, text=True, check=True,
                              env=cli_env(state)).stdout
    spec = json.loads(kubectl("get", "postgresql", "-n", NS, CLUSTER, "-o", "json"))["spec"]
    body = {"apiVersion": "acid.zalan.do/v1", "kind": "postgresql", "metadata": {"name": BENCH, "namespace": NS},
            "spec": {**spec, "numberOfInstances": 1}}
    kubectl("create", "-f", "-", stdin=json.dumps(body))
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            status = json.loads(kubectl("get", "postgresql", "-n", NS, BENCH, "-o", "json")).get("status") or {}
            pod = kubectl("get", "pods", "-n", NS, "-l", f"cluster-name={BENCH},spilo-role=master", "-o",
                          "jsonpath={.items[*].metadata.name}").strip()
            if status.get("PostgresClusterStatus") == "Running" and pod:
                break
            time.sleep(1)
        else:
            raise RuntimeError(f"cluster {BENCH} did not come up")
        yield pod
    finally:
        kubectl("delete", "postgresql", "-n", NS, BENCH, "--wait=true")


def plain_restore(dump_file: Path) -> float:
    server = scratch_server()
    try:
        return timed(lambda: subprocess.run(
            [pg_bin("psql"), "-X", "-q", "-o", "/dev/null", "-d", "postgres", "-f", str(dump_file)],
            check=True, env={**os.environ, **server.env()}, stderr=subprocess.DEVNULL))
    finally:
        discard(server)


def current_leader(state: StateDir) -> str:
    out = subprocess.run(["kubectl", "get", "pods", "-n", NS, "-l", f"cluster-name={CLUSTER},spilo-role=master",
                          "-o", "jsonpath={.items[0].metadata.name}"], capture_output=True, text=True, check=True,
                         env=cli_env(state))
    return out.stdout.strip()


def row(name: str, size: int, ours: float, plain: list[tuple[str, float]]) -> list[str]:
    """One line per plain tool: ours, then the tool's seconds and the ratio plain/ours."""
    mb = size / 1e6
    ours_cols = f"{name:22} {mb:9.1f} {ours:8.1f} {mb / ours if ours else 0:8.1f}"
    if not plain:
        return [ours_cols]
    return [(ours_cols if i == 0 else " " * len(ours_cols)) + f"   {tool:34} {secs:7.1f} {secs / ours:6.2f}"
            for i, (tool, secs) in enumerate(plain)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=1024)
    parser.add_argument("--state-dir", type=Path, default=default_state_dir())
    parser.add_argument("--keep", action="store_true", help="leave the grown table and the S3 objects")
    args = parser.parse_args()
    state = StateDir(args.state_dir)
    s3 = sandbox_s3.client(json.loads(state.config.read_text())["s3_endpoint"])
    written: list[str] = []
    try:
        if args.mb:
            print(grow(state, "keycloak", args.mb), flush=True)
        objects = backup(state, "keycloak", "psql")
        written += [key for key, _ in objects]
        key, size = objects[0]
        print(f"backup {key}: {size / 1e6:.1f} MB", flush=True)
        with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
            plan = Path(tmp) / "plan.json"
            rc, _, _ = pgrestore(state, "plan", "keycloak", "--backup", key, "-o", str(plan))
            assert rc in (0, 2), f"plan exited {rc}"
            steps = {s["kind"] + ("" if s["id"][0].isdigit() else "-rollback"): s for s in
                     json.loads(plan.read_text())["steps"] + json.loads(plan.read_text())["rollback"]}
            prefix = steps["safety-dump"]["params"]["dump"]["key"].rsplit("/", 1)[0]
            journal = plan.with_name("plan.journal.json")
            rc, apply_s, apply_rss = pgrestore(state, "apply", str(plan), "--auto-approve", journal=journal)
            assert rc == 0, f"apply exited {rc}"
            print_step_rss("apply")
            times = step_times(journal)
            rc, rollback_s, rollback_rss = pgrestore(state, "rollback", str(plan), journal=journal)
            print_step_rss("rollback")
            rollback_times = step_times(journal) if rc == 0 else {}

            dump_file, safety_file = Path(tmp) / "backup.psql", Path(tmp) / "safety.psql"
            safety_size = times[steps["safety-dump"]["id"]][1]["bytes"]
            now_leader = current_leader(state)
            plain: dict[str, list[tuple[str, float]]] = {
                "verify-backup": [("boto3 get_object into a file", plain_download(s3, key, dump_file))],
                "pin-backup": [("boto3 copy_object", timed(lambda: s3.copy_object(
                    CopySource={"Bucket": BUCKET, "Key": key}, Bucket=BUCKET, Key=f"{prefix}/plain-pin")))],
                "safety-dump": [("kubectl exec pg_dumpall + upload_file",
                                 plain_dump_and_upload(state, now_leader, safety_file, s3, f"{prefix}/plain-safety"))],
            }
            for kind, file in (("restore-dump", dump_file), ("restore-dump-rollback", safety_file)):
                with fresh_cluster(state) as bench_leader:
                    runbook = plain_kubectl_restore(state, bench_leader, file)
                plain[kind] = [("kubectl exec -i psql, a new cluster", runbook),
                               ("psql -f, a bare scratch server", plain_restore(file))]
        print(f"\n{'stream':22} {'MB':>9} {'seconds':>8} {'MB/s':>8}   {'plain tool':34} {'seconds':>7} "
              f"{'plain/ours':>6}")
        for kind, size_of in (("verify-backup", size), ("pin-backup", size), ("safety-dump", safety_size),
                              ("restore-dump", size), ("restore-dump-rollback", safety_size)):
            sid = steps[kind]["id"] if kind in steps else ""
            found = (rollback_times if kind.endswith("rollback") else times).get(sid)
            if found is None:
                print(f"{kind:22} (not run)")
                continue
            print("\n".join(row(kind, size_of, found[0], plain.get(kind, []))))
        print(f"\napply: {apply_s:.1f}s, peak RSS {apply_rss:.0f} MiB; rollback: exit {rc}, {rollback_s:.1f}s, "
              f"peak RSS {rollback_rss:.0f} MiB")
    finally:
        if not args.keep:
            server = registry.server_for(state.clusters, NS, CLUSTER)  # after apply: the new cluster's
            server.psql("DROP TABLE IF EXISTS bulk_history", db="service_db")
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="pgrestore/keycloak/"):
                written += [o["Key"] for o in page.get("Contents", [])]
            for k in written:
                s3.delete_object(Bucket=BUCKET, Key=k)


if __name__ == "__main__":
    main()
