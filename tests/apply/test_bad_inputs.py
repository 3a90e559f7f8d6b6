"""Bad input that reaches the cluster (the sandbox): one line on stderr naming the thing and what to do,
the documented exit code (README, "Exit codes"), never a traceback, and no change to the cluster: the
keycloak `postgresql`'s uid and numberOfInstances and the client StatefulSet's replicas are as before,
and no plan is written. The cases that need no cluster are in tests/cli/test_bad_inputs.py.

Each row: id, the command line, the exit code, the words the line must hold, and what the case sets up
first (and takes away after). In the command line, {plan} is a fresh, good plan for the sandbox (a copy
per case, so its journal is the case's own), {tmp} the case's folder, {good} the good backup's S3 key,
{old} the S3 key stem of a backup older than any real one (for broken backups put there by the case).
"""

from __future__ import annotations

import base64
import gzip
import json
import shlex
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from pgrestore.contract.document import read_unverified, render
from pgrestore.contract.model import to_dict
from pgrestore.executors.journal import Journal, path_for
from pgrestore_sandbox import s3 as sandbox_s3
from tests.helpers import resigned

from .conftest import CLUSTER, NS, Cli, cluster_uid, make_backup, settings, wait_healthy

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "postgres-backup"
OLD = f"{CLUSTER}-2001-01-01T00:00:00"  # older than any real backup: `latest` never picks it
OLD_LOGICAL = f"spilo/{CLUSTER}/00000000-0000-0000-0000-000000000000/logical_backups/978307200.sql.gz"
S3_SECRET = "postgres-backup-s3-credentials"


@dataclass
class World:
    sandbox: Any
    tmp: Path
    good: str
    env: dict = field(default_factory=dict)

    @property
    def s3(self):
        return sandbox_s3.client(self.sandbox.s3_endpoint)

    def read(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()

    def dump(self) -> bytes:
        return self.read(self.good)

    def manifest(self) -> bytes:
        return self.read(self.good.replace(".psql", ".manifest"))

    @property
    def plan(self) -> Path:
        return self.tmp / "plan.json"


Content = Callable[[World], bytes]
Setup = Callable[[World], Iterator[None]]


# -- what a case sets up ------------------------------------------------------------------------------------
def put(**objects: Content) -> Setup:
    """Objects in the bucket for the case, deleted after: put(psql=..., manifest=...) under {old}."""
    keys = {"psql": f"{OLD}.psql", "manifest": f"{OLD}.manifest", "logical": OLD_LOGICAL}

    @contextmanager
    def setup(w: World) -> Iterator[None]:
        for kind, content in objects.items():
            w.s3.put_object(Bucket=BUCKET, Key=keys[kind], Body=content(w))
        try:
            yield
        finally:
            for kind in objects:
                w.s3.delete_object(Bucket=BUCKET, Key=keys[kind])
    return setup


def files(**contents: Content) -> Setup:
    """Files in the case's folder (a name's dots written as _: plan_journal_json is plan.journal.json)."""
    @contextmanager
    def setup(w: World) -> Iterator[None]:
        for name, content in contents.items():
            data = content(w)
            path = w.tmp / name.replace("_", ".")
            if data is DIR:
                path.mkdir()
            else:
                path.write_bytes(data)
        yield
    return setup


def s3_secret(**changes: str | None) -> Setup:
    """The cluster's S3 credentials secret with keys changed (None: removed), put back after."""
    @contextmanager
    def setup(w: World) -> Iterator[None]:
        core = w.sandbox.api.core
        original = core.read_namespaced_secret(S3_SECRET, NS).data
        changed = {k: None if v is None else base64.b64encode(v.encode()).decode() for k, v in changes.items()}
        core.patch_namespaced_secret(S3_SECRET, NS, {"data": changed})
        try:
            yield
        finally:
            core.patch_namespaced_secret(S3_SECRET, NS, {"data": original})
    return setup


def edit_plan(edit: Callable[[dict], object]) -> Setup:
    """The case's plan edited and sealed again: a well-formed plan, as if made elsewhere."""
    @contextmanager
    def setup(w: World) -> Iterator[None]:
        doc = json.loads(w.plan.read_text())
        edit(doc)
        resigned(doc, w.sandbox)
        w.plan.write_text(render(doc))
        yield
    return setup


def site_service(**changes: object) -> Setup:
    """PGRESTORE_SERVICES_DIR with a keycloak definition that differs from the shipped one."""
    @contextmanager
    def setup(w: World) -> Iterator[None]:
        doc = yaml.safe_load((ROOT / "pgrestore" / "services" / "keycloak.yaml").read_text())
        for path, value in changes.items():
            node = doc
            *parents, last = path.split("__")
            for p in parents:
                node = node[p]
            node[last] = value
        (w.tmp / "site").mkdir()
        (w.tmp / "site" / "keycloak.yaml").write_text(yaml.safe_dump(doc))
        w.env["PGRESTORE_SERVICES_DIR"] = str(w.tmp / "site")
        yield
    return setup


# -- contents -------------------------------------------------------------------------------------------------
DIR = b"<a folder>"


def good_dump(w: World) -> bytes:
    return w.dump()


def good_manifest(w: World) -> bytes:
    return w.manifest()


def half_dump(w: World) -> bytes:
    body = w.dump()
    return body[: len(body) // 2]


def not_a_dump(w: World) -> bytes:
    return bytes(range(256)) * 64


def nothing(w: World) -> bytes:
    return b""


def gzipped_dump(w: World) -> bytes:
    return gzip.compress(w.dump())


def half_gzipped_dump(w: World) -> bytes:
    body = gzipped_dump(w)
    return body[: len(body) // 2]


def text(value: str) -> Content:
    return lambda w: value.encode()


def another_clusters_manifest(w: World) -> bytes:
    """The manifest of a backup of another cluster (spire's secrets, not keycloak's)."""
    return w.manifest().replace(CLUSTER.encode(), b"spire-postgres")


def journal_of_another_plan(w: World) -> bytes:
    """What an earlier apply of another plan, written to the same file name, left beside it when it stopped
    mid-way (a finished one is kept under its checksum and the new plan goes ahead)."""
    data = Journal.fresh(path_for(w.plan), None, read_unverified(w.plan)).data
    data.plan_checksum, data.status = "hmac-sha256:" + "0" * 64, "running"
    return json.dumps(to_dict(data), indent=2).encode()


def scaled_back_to_one(w: World) -> bytes:
    """What a hurried reviewer might do: scale the client back to 1 instead of as it was (not sealed again)."""
    doc = json.loads(w.plan.read_text())
    [*_, last] = [s for s in doc["steps"] if s["kind"] == "scale-workload"]
    assert last["params"]["replicas"] != 1
    last["params"]["replicas"] = 1
    return render(doc).encode()


def other_cluster(doc: dict) -> None:
    doc["cluster"]["kube_system_uid"] = "00000000-0000-0000-0000-000000000000"


def case(id: str, args: str, code: int, *words: str, setup: Setup | None = None):
    return pytest.param(args, code, words, setup, id=id)


PLAN = "plan keycloak -o {tmp}/out.json"
APPLY = "apply {plan} --auto-approve"
NOT_YAML = "apiVersion: v1\nkind: [Secret\n"

CASES = [
    # -- backups in S3 ----------------------------------------------------------------------------------------
    case("backup-key-missing", f"{PLAN} --backup {{old}}.psql", 65,
         "no backup '{old}.psql'", "`pgrestore backups` lists them"),
    case("backup-logical-key-missing", f"{PLAN} --backup {OLD_LOGICAL}", 65,
         f"no backup '{OLD_LOGICAL}'", "`pgrestore backups` lists them"),
    case("backup-psql-without-manifest", f"{PLAN} --backup {{old}}.psql", 65,
         "{old}.psql has no .manifest", "choose another", setup=put(psql=good_dump)),
    case("backup-manifest-without-psql", f"{PLAN} --backup {{old}}.psql", 65,
         "{old}.psql", ".psql missing", "choose another", setup=put(manifest=good_manifest)),
    case("backup-truncated", f"{PLAN} --backup {{old}}.psql", 65,
         "{old}.psql has no", "trailer", "truncated", "choose another backup",
         setup=put(psql=half_dump, manifest=good_manifest)),
    case("backup-not-a-dump", f"{PLAN} --backup {{old}}.psql", 65,
         "{old}.psql does not start with the pg_dumpall header", "choose another backup",
         setup=put(psql=not_a_dump, manifest=good_manifest)),
    case("backup-empty-object", f"{PLAN} --backup {{old}}.psql", 65,
         "{old}.psql is 0 bytes", "choose another", setup=put(psql=nothing, manifest=good_manifest)),
    case("backup-gzip-that-is-not-gzip", f"{PLAN} --backup {OLD_LOGICAL}", 65,
         f"{OLD_LOGICAL} is not intact gzip", "choose another backup", setup=put(logical=good_dump)),
    case("backup-gzip-truncated", f"{PLAN} --backup {OLD_LOGICAL}", 65,
         f"{OLD_LOGICAL} ends before its gzip stream", "truncated", "choose another backup",
         setup=put(logical=half_gzipped_dump)),
    case("backup-manifest-not-yaml", f"{PLAN} --backup {{old}}.psql", 65,
         "manifest {old}.manifest is not valid YAML", "choose another backup",
         setup=put(psql=good_dump, manifest=text(NOT_YAML))),
    case("backup-manifest-not-secrets", f"{PLAN} --backup {{old}}.psql", 65,
         "manifest {old}.manifest holds a 'ConfigMap'", "choose another backup",
         setup=put(psql=good_dump, manifest=text("kind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\n"))),
    case("backup-manifest-of-another-cluster", f"{PLAN} --backup {{old}}.psql", 65,
         "manifest {old}.manifest does not name secret(s)", f"postgres.{CLUSTER}.credentials",
         "--secrets alter-users or another backup", setup=put(psql=good_dump, manifest=another_clusters_manifest)),
    case("dump-with-the-manifest-of-another-cluster", f"{PLAN} --dump {{tmp}}/d.psql --manifest {{tmp}}/d.manifest",
         65, "does not name secret(s)", f"postgres.{CLUSTER}.credentials", "--secrets alter-users or another backup",
         setup=files(d_psql=good_dump, d_manifest=another_clusters_manifest)),
    case("from-manifest-for-a-backup-without-one", f"{PLAN} --backup {OLD_LOGICAL} --secrets from-manifest", 64,
         "--secrets from-manifest needs a backup with a .manifest", "use --secrets alter-users",
         setup=put(logical=gzipped_dump)),
    # -- S3 keys and endpoints ---------------------------------------------------------------------------------
    case("s3-wrong-access-key", "backups keycloak --s3-access-key wrong-access-key", 1,
         "InvalidAccessKeyId", "--s3-access-key"),
    case("s3-wrong-secret-key", f"{PLAN} --s3-secret-key-file {{tmp}}/s3.key", 1,
         "SignatureDoesNotMatch", "--s3-secret-key", setup=files(s3_key=lambda w: b"wrong-secret-key\n")),
    case("s3-wrong-access-key-on-apply", f"{APPLY} --s3-access-key wrong-access-key", 1,
         "{good}", "--s3-access-key"),
    case("s3-endpoint-unreachable", f"{PLAN} --s3-endpoint http://127.0.0.1:9", 69,
         "cannot reach the S3 endpoint", "check --s3-endpoint"),
    case("s3-endpoint-unreachable-on-apply", f"{APPLY} --s3-endpoint http://127.0.0.1:9", 69,
         "cannot reach the S3 endpoint", "check --s3-endpoint"),
    case("s3-endpoint-not-a-url", f"{PLAN} --s3-endpoint rgw-vip.nmn", 64,
         "--s3-endpoint 'rgw-vip.nmn' is not an http(s) URL"),
    case("s3-secret-without-access-key", "backups keycloak", 78,
         f"secret {NS}/{S3_SECRET} has no access_key", "pass --s3-access-key", setup=s3_secret(access_key=None)),
    case("s3-secret-endpoint-not-a-url", PLAN, 78,
         f"secret {NS}/{S3_SECRET} has s3_endpoint 'rgw-vip.nmn'", "pass --s3-endpoint",
         setup=s3_secret(s3_endpoint="rgw-vip.nmn")),
    # -- kubeconfig contexts -----------------------------------------------------------------------------------
    case("plan-unknown-context", f"{PLAN} --context nope", 78, "cannot use kubeconfig", "nope", "contexts"),
    case("apply-unknown-context", f"{APPLY} --context nope", 78, "cannot use kubeconfig", "nope", "contexts"),
    case("rollback-unknown-context", "rollback {plan} --context nope", 78, "cannot use kubeconfig", "nope"),
    # -- services ---------------------------------------------------------------------------------------------
    case("site-service-with-a-client-that-does-not-exist", PLAN, 1,
         "statefulset services/cray-keycloak-nosuch", "not found", "service definition",
         setup=site_service(client__name="cray-keycloak-nosuch")),
    # -- plan files -------------------------------------------------------------------------------------------
    case("plan-for-another-cluster", APPLY, 3,
         "plan is for cluster", "use that cluster's kubeconfig or re-plan", setup=edit_plan(other_cluster)),
    case("plan-edited", APPLY, 3, "plan.json was changed after it was made", "re-run `pgrestore plan`",
         setup=files(plan_json=scaled_back_to_one)),
    # -- journals beside the plan -----------------------------------------------------------------------------
    case("journal-not-json", APPLY, 3, "journal", "plan.journal.json is not JSON", "move it away",
         setup=files(plan_journal_json=text("{oops"))),
    case("journal-not-text", APPLY, 3, "journal", "plan.journal.json is not JSON", "move it away",
         setup=files(plan_journal_json=lambda w: b"\xff\xfe\x00\x9c")),
    case("journal-is-a-directory", APPLY, 3, "journal", "plan.journal.json cannot be read", "move it away",
         setup=files(plan_journal_json=lambda w: DIR)),
    case("journal-not-the-schema", APPLY, 3, "journal", "does not match the journal schema", "move it away",
         setup=files(plan_journal_json=text('{"format_version": "2.0", "plan_checksum": 7}'))),
    case("journal-of-another-plan", APPLY, 3, "journal", "plan.journal.json is of another plan",
         "stopped while running; resume or roll back that plan first",
         setup=files(plan_journal_json=journal_of_another_plan)),
    # -- flags ------------------------------------------------------------------------------------------------
    case("apply-without-a-terminal", "apply {plan}", 64, "needs a terminal", "pass --auto-approve"),
    case("resume-with-nothing-to-resume", f"{APPLY} --resume", 64, "nothing to resume", "no journal for this plan"),
    case("rollback-of-a-plan-never-applied", "rollback {plan}", 64, "was never applied", "nothing to roll back"),
    case("force-unlock-when-not-locked", "force-unlock keycloak 1234-abcd", 64,
         "no lease services/pgrestore-keycloak", "not locked"),
]


@dataclass(frozen=True)
class Base:
    good: str
    plan: Path


@pytest.fixture(scope="module")
def base(sandbox, tmp_path_factory) -> Base:
    """A good backup, and a good plan for it that every case gets a copy of."""
    wait_healthy(sandbox)
    good = make_backup(sandbox, "psql")
    plan = tmp_path_factory.mktemp("bad-inputs") / "plan.json"
    res = Cli(sandbox)("plan", "keycloak", "--backup", good, "-o", str(plan))
    assert res.returncode == 0, res.stderr
    return Base(good, plan)


def cluster_state(sandbox) -> tuple[str, tuple[int, int]]:
    """The keycloak postgresql's uid, and (cray-keycloak's replicas, numberOfInstances)."""
    return cluster_uid(sandbox), settings(sandbox)


@pytest.mark.parametrize("args,code,words,setup", CASES)
def test_bad_input_is_one_line_with_its_exit_code_and_changes_nothing(sandbox, cli, base, tmp_path, args, code,
                                                                     words, setup):
    w = World(sandbox, tmp_path, base.good)
    shutil.copy(base.plan, w.plan)
    values = {"plan": w.plan, "tmp": tmp_path, "good": base.good, "old": OLD}
    cli.env["XDG_STATE_HOME"] = str(tmp_path / "state")  # a crash log would land here
    before = cluster_state(sandbox)
    with setup(w) if setup else nullcontext():
        cli.env.update(w.env)
        res = cli(*[a.format(**values) for a in shlex.split(args)])
    after = cluster_state(sandbox)

    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert "Traceback" not in res.stderr + res.stdout, res.stderr
    assert len(lines) == 1, f"want one line, got:\n{res.stderr}"
    assert lines[0].startswith("Error: "), lines[0]
    assert res.returncode == code, f"exit {res.returncode}, want {code}: {lines[0]}"
    missing = [w.format(**values) for w in words if w.format(**values) not in lines[0]]
    assert not missing, f"{missing} not in: {lines[0]}"
    assert after == before, f"the cluster changed: {before} -> {after}"
    assert not (tmp_path / "out.json").exists(), "a plan was written"
    assert not list((tmp_path / "state").glob("pgrestore/crash-*.log")), "a crash log was written"
