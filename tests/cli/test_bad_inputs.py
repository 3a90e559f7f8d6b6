"""Bad input that needs no cluster: one line on stderr naming the thing and what to do, the documented
exit code (README, "Exit codes"), never a traceback. The cases that reach a cluster are in
tests/apply/test_bad_inputs.py.

Each row: id, the command line, the exit code, the words the line must hold, and the files the case
needs in its folder. In the command line, {tmp} is the case's folder, {dump} and {manifest} an intact
fixture backup (tests/fakes/worlds/README.md) and {kubeconfig} one whose API server does not answer
(so a case that got as far as the cluster would say so instead of passing).
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import shlex
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests import cli_process

ROOT = Path(__file__).resolve().parents[2]
WORLDS = ROOT / "tests" / "fakes" / "worlds"
DUMP = WORLDS / "keycloak-2024-04-30.pg_dumpall.sql"
TRUNCATED_DUMP = WORLDS / "keycloak-2024-05-01-truncated.pg_dumpall.sql"
LOGICAL_DUMP = WORLDS / "keycloak-2024-04-30-logical.pg_dumpall.gz"
MANIFEST = WORLDS / "keycloak-2024-04-30.manifest.yaml"
GOLDEN_PLAN = ROOT / "tests" / "planner" / "goldens" / "keycloak-from-manifest.golden.json"


def kubeconfig(server: str = "https://127.0.0.1:9", current: str | None = "x") -> str:
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        **({"current-context": current} if current else {}),
    })


def plan(edit: Callable[[dict], object]) -> Callable[[], str]:
    """A real plan (the golden one the planner tests keep current), edited."""
    def text() -> str:
        doc = json.loads(GOLDEN_PLAN.read_text())
        edit(doc)
        return json.dumps(doc, indent=2)
    return text


def scale_back_to_one(doc: dict) -> None:
    """What a hurried reviewer might do: scale the client back to 1 instead of as it was."""
    [*_, last] = [s for s in doc["steps"] if s["kind"] == "scale-workload"]
    last["params"]["replicas"] = 1


def manifest(edit: Callable[[list[dict]], object]) -> Callable[[], str]:
    """The fixture backup's manifest, edited."""
    def text() -> str:
        docs = [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]
        edit(docs)
        return yaml.safe_dump_all(docs)
    return text


def postgres_secret(docs: list[dict]) -> dict:
    return next(d for d in docs if d["metadata"]["name"].startswith("postgres."))


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


NOT_A_DUMP = bytes(range(256)) * 64
NOT_YAML = "apiVersion: v1\nkind: [Secret\n"
NOT_TEXT = b"\xff\xfe\x00\x9c binary"
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: keycloak}\ndata: {a: b}\n"
def _tar_of(name: str, body: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    return out.getvalue()


ETC_TAR = _tar_of("etc/passwd", b"root:x:0:0::/root:/bin/bash\n")
DIR = object()  # a folder instead of a file
S3_KEYS = "--s3-access-key a --s3-secret-key-file {tmp}/s3.key"  # with --s3-endpoint: no cluster is asked
KEYED = {"files": {"s3.key": "b\n"}, "env": {"KUBECONFIG": "{kubeconfig}"}}
NOT_A_SERVICE = "name: keycloak\nnamespace: services\n"


def case(id: str, args: str, code: int, *words: str, files: dict | None = None, env: dict | None = None):
    return pytest.param(args, code, words, files or {}, env or {}, id=id)


CASES = [
    # -- plan files --------------------------------------------------------------------------------------------
    case("plan-file-missing", "apply {tmp}/nosuch.json --auto-approve", 64,
         "plan file", "nosuch.json", "not found", "`pgrestore plan -o`"),
    case("plan-file-is-a-directory", "apply {tmp}/p.json --auto-approve", 64,
         "p.json is a directory", "`pgrestore plan -o`", files={"p.json": DIR}),
    case("plan-file-not-json", "apply {tmp}/p.json --auto-approve", 3,
         "p.json is not JSON", "re-run `pgrestore plan`", files={"p.json": "this is not a plan"}),
    case("plan-file-empty", "show {tmp}/p.json", 3, "p.json is not JSON", "re-run `pgrestore plan`",
         files={"p.json": ""}),
    case("plan-file-not-text", "show {tmp}/p.json", 3, "p.json is not JSON", "re-run `pgrestore plan`",
         files={"p.json": NOT_TEXT}),
    case("plan-file-a-json-list", "apply {tmp}/p.json --auto-approve", 3,
         "not a pgrestore plan", "re-run `pgrestore plan`", files={"p.json": "[1, 2]"}),
    case("plan-file-other-format-version", "apply {tmp}/p.json --auto-approve", 3,
         "format_version '9.9'", "re-plan with this version",
         files={"p.json": plan(lambda d: d.update(format_version="9.9"))}),
    case("plan-file-not-the-schema", "apply {tmp}/p.json --auto-approve", 3,
         "$.steps[0]", "destructive", "re-run `pgrestore plan`",
         files={"p.json": plan(lambda d: d["steps"][0].pop("destructive"))}),
    # An edited plan is refused by its signature, which needs the cluster's plan key: without a cluster apply
    # stops at the kubeconfig (tests/engine/test_plan_key.py refuses edited plans on the fakes).
    case("plan-file-edited", "apply {tmp}/p.json --auto-approve", 78,
         "cannot use kubeconfig", files={"p.json": plan(scale_back_to_one)}),
    case("rollback-plan-file-missing", "rollback {tmp}/nosuch.json", 64, "plan file", "not found"),
    # -- backups: local dumps --------------------------------------------------------------------------------
    case("dump-missing", "plan keycloak --dump {tmp}/nosuch.psql", 64,
         "dump file", "nosuch.psql not found", "pass the path of a .psql or .sql.gz"),
    case("dump-is-a-folder-without-a-dump", "plan keycloak --dump {tmp}/d.psql", 64,
         "--dump", "d.psql: a folder must hold exactly one dump", "found none", "pass the dump file itself",
         files={"d.psql": DIR}),
    case("dump-folder-with-two-dumps", "plan keycloak --dump {tmp}/b", 64,
         "a folder must hold exactly one dump", "x.psql, y.psql", files={"b/x.psql": "a", "b/y.psql": "b"}),
    case("pvc-backup-for-a-service-without-a-volume", "plan keycloak --pvc-backup {tmp}/vcs.tar", 64,
         "--pvc-backup: service keycloak has no data volume", "drop the option", files={"vcs.tar": "x"}),
    case("pvc-backup-not-a-tar", "plan vcs --pvc-backup {tmp}/vcs.tar", 65,
         "volume backup", "vcs.tar is not a tar archive", "choose another backup", files={"vcs.tar": NOT_A_DUMP}),
    case("pvc-backup-of-another-folder", "plan vcs --pvc-backup {tmp}/vcs.tar", 65,
         "is not a backup of /var/lib/gitea", "'etc/passwd' lies outside", files={"vcs.tar": ETC_TAR}),
    case("dump-tgz-not-gzip", "plan keycloak --dump {tmp}/gitea-vcs-1.tgz", 65,
         "gitea-vcs-1.tgz is not an intact .tgz", "choose another backup", files={"gitea-vcs-1.tgz": "not gz"}),
    case("dump-not-a-dump", "plan keycloak --dump {tmp}/random.psql", 65,
         "random.psql does not start with the pg_dumpall header", "choose another backup",
         files={"random.psql": NOT_A_DUMP}),
    case("dump-empty", "plan keycloak --dump {tmp}/empty.psql", 65, "empty.psql is 0 bytes", "choose another",
         files={"empty.psql": ""}),
    case("dump-truncated", "plan keycloak --dump {tmp}/cut.psql", 65,
         "cut.psql has no", "trailer", "truncated", "choose another backup",
         files={"cut.psql": TRUNCATED_DUMP.read_bytes}),
    case("dump-gzip-that-is-not-gzip", "plan keycloak --dump {tmp}/dump.sql.gz", 65,
         "dump.sql.gz is not intact gzip", "choose another backup", files={"dump.sql.gz": DUMP.read_bytes}),
    case("dump-gzip-truncated", "plan keycloak --dump {tmp}/dump.sql.gz", 65,
         "dump.sql.gz ends before its gzip stream", "truncated", "choose another backup",
         files={"dump.sql.gz": lambda: LOGICAL_DUMP.read_bytes()[:700]}),
    case("dump-gzip-of-not-a-dump", "plan keycloak --dump {tmp}/dump.sql.gz", 65,
         "dump.sql.gz does not start with the pg_dumpall header", "choose another backup",
         files={"dump.sql.gz": gzip.compress(b"SELECT 1;\n" * 100)}),
    # -- manifests -------------------------------------------------------------------------------------------
    case("manifest-missing", "plan keycloak --dump {dump} --manifest {tmp}/nosuch.manifest", 64,
         "manifest file", "nosuch.manifest not found", "pass the .manifest written beside the dump"),
    case("manifest-is-a-directory", "plan keycloak --dump {dump} --manifest {tmp}/m", 64,
         "manifest", "is not a file", "pass the .manifest written beside the dump", files={"m": DIR}),
    case("manifest-not-yaml", "plan keycloak --dump {dump} --manifest {tmp}/m", 65,
         "manifest", "is not valid YAML", "choose another backup", files={"m": NOT_YAML}),
    case("manifest-not-text", "plan keycloak --dump {dump} --manifest {tmp}/m", 65,
         "manifest", "is not text", "pass the .manifest written beside the dump", files={"m": NOT_TEXT}),
    case("manifest-not-secrets", "plan keycloak --dump {dump} --manifest {tmp}/m", 65,
         "holds a 'ConfigMap', not only Secrets", "choose another backup", files={"m": CONFIGMAP}),
    case("manifest-empty", "plan keycloak --dump {dump} --manifest {tmp}/m", 65,
         "holds no Secrets", "choose another backup", files={"m": "---\n"}),
    case("manifest-missing-password", "plan keycloak --dump {dump} --manifest {tmp}/m", 65,
         "Secret postgres.keycloak-postgres.credentials has no password", "choose another backup",
         files={"m": manifest(lambda docs: postgres_secret(docs)["data"].pop("password"))}),
    case("manifest-password-not-base64", "plan keycloak --dump {dump} --manifest {tmp}/m", 65,
         "Secret postgres.keycloak-postgres.credentials", "not base64", "choose another backup",
         files={"m": manifest(lambda docs: postgres_secret(docs)["data"].update(password="not base64!"))}),
    # -- kubeconfigs ------------------------------------------------------------------------------------------
    case("kubeconfig-missing", "plan keycloak --kubeconfig {tmp}/nosuch", 78,
         "cannot use kubeconfig", "nosuch", "pass --kubeconfig"),
    case("kubeconfig-unset-and-no-default", "plan keycloak", 78,
         "cannot use kubeconfig ~/.kube/config", "set KUBECONFIG", env={"KUBECONFIG": None}),
    case("kubeconfig-is-a-directory", "plan keycloak --kubeconfig {tmp}/kc", 78,
         "cannot use kubeconfig", "Is a directory", files={"kc": DIR}),
    case("kubeconfig-not-yaml", "plan keycloak --kubeconfig {tmp}/kc", 78,
         "cannot use kubeconfig", "kc (", "pass --kubeconfig", files={"kc": NOT_YAML}),
    case("kubeconfig-empty", "plan keycloak --kubeconfig {tmp}/kc", 78,
         "cannot use kubeconfig", "empty", files={"kc": ""}),
    case("kubeconfig-without-current-context", "plan keycloak --kubeconfig {tmp}/kc", 78,
         "cannot use kubeconfig", "current-context", files={"kc": kubeconfig(current=None)}),
    case("kubeconfig-unknown-context", "plan keycloak --kubeconfig {kubeconfig} --context nope", 78,
         "cannot use kubeconfig", "nope", "contexts"),
    case("kubeconfig-unknown-context-backups", "backups keycloak --context nope", 78,
         "cannot use kubeconfig", "nope", "contexts", env={"KUBECONFIG": "{kubeconfig}"}),
    case("kubeconfig-server-not-a-url", "plan keycloak --kubeconfig {tmp}/kc", 78,
         "kubeconfig", "server", "not a URL", files={"kc": kubeconfig(server="not a url")}),
    case("api-server-unreachable", "plan keycloak --kubeconfig {kubeconfig}", 69,
         "cannot reach the API server", "check the kubeconfig's server"),
    # -- S3 endpoints -----------------------------------------------------------------------------------------
    case("s3-endpoint-unreachable", f"backups keycloak --s3-endpoint http://127.0.0.1:9 {S3_KEYS}", 69,
         "cannot reach the S3 endpoint", "check --s3-endpoint", **KEYED),
    case("s3-endpoint-without-scheme", f"backups keycloak --s3-endpoint rgw-vip.nmn {S3_KEYS}", 64,
         "--s3-endpoint 'rgw-vip.nmn' is not an http(s) URL", "pass e.g. http://", **KEYED),
    case("s3-endpoint-other-scheme", f"backups keycloak --s3-endpoint ftp://rgw-vip.nmn {S3_KEYS}", 64,
         "--s3-endpoint 'ftp://rgw-vip.nmn' is not an http(s) URL", **KEYED),
    case("s3-endpoint-malformed", f"backups keycloak --s3-endpoint http://[::1 {S3_KEYS}", 64,
         "--s3-endpoint 'http://[::1' is not an http(s) URL", **KEYED),
    # -- services ---------------------------------------------------------------------------------------------
    case("service-unknown", "plan nosuch", 64, "unknown service 'nosuch'", "`pgrestore services` lists"),
    case("status-of-an-unknown-service", "status nosuch", 64, "unknown service 'nosuch'", "`pgrestore services` lists"),
    case("status-api-server-unreachable", "status keycloak --kubeconfig {kubeconfig}", 69,
         "cannot reach the API server", "check the kubeconfig's server"),
    case("site-service-not-yaml", "plan keycloak", 78, "service definition", "bad.yaml is not valid YAML",
         "fix or remove it", files={"site/bad.yaml": NOT_YAML}, env={"PGRESTORE_SERVICES_DIR": "{tmp}/site"}),
    case("site-service-not-a-service", "services", 78, "service definition", "x.yaml does not match the service schema",
         "fix it", files={"site/x.yaml": NOT_A_SERVICE}, env={"PGRESTORE_SERVICES_DIR": "{tmp}/site"}),
    case("site-service-empty", "backups keycloak", 78, "service definition", "x.yaml does not match", "fix it",
         files={"site/x.yaml": ""}, env={"PGRESTORE_SERVICES_DIR": "{tmp}/site"}),
    case("services-dir-is-a-file", "plan keycloak", 78, "PGRESTORE_SERVICES_DIR=", "is not a folder",
         "point it at a folder", files={"site": "keycloak"}, env={"PGRESTORE_SERVICES_DIR": "{tmp}/site"}),
    case("services-dir-missing", "services", 78, "PGRESTORE_SERVICES_DIR=", "nosuch is not a folder",
         "unset it", env={"PGRESTORE_SERVICES_DIR": "{tmp}/nosuch"}),
    # -- flags ------------------------------------------------------------------------------------------------
    case("command-unknown", "restor keycloak", 64, "No such command 'restor'", "`pgrestore --help`"),
    case("option-unknown", "plan keycloak --bogus", 64, "No such option: --bogus", "`pgrestore plan --help`"),
    case("argument-missing", "show", 64, "Missing argument 'plan_file'", "`pgrestore show --help`"),
    case("argument-extra", "show a b", 64, "unexpected extra argument", "`pgrestore show --help`"),
    case("plan-without-service", "plan", 64, "name the service to restore", "or pass --all"),
    case("plan-service-and-all", "plan keycloak --all", 64, "name services or pass --all, not both"),
    case("plan-service-twice", "plan keycloak spire keycloak", 64, "'keycloak' is named twice", "name each"),
    case("plan-several-with-backup", "plan keycloak spire --backup k.psql", 64,
         "--backup names one service's backup", "plan that service on its own"),
    case("plan-storage-node-not-a-host", "plan spire --storage-nodes ncn-s001,ncn_s002", 64,
         "--storage-nodes: 'ncn_s002' is not a host name"),
    case("apply-confirm-without-resume", "apply {tmp}/p.json --auto-approve --confirm 18-manual", 64,
         "--confirm goes with --resume"),
    case("apply-image-without-in-cluster", "apply {tmp}/p.json --auto-approve --image registry.local/pgrestore:1", 64,
         "--image goes with --in-cluster"),
    case("apply-in-cluster-resume-if-started", "apply {tmp}/p.json --in-cluster --resume-if-started", 64,
         "--resume-if-started is what the Job runs"),
    case("attach-unknown-service", "attach nosuch --kubeconfig {kubeconfig}", 64, "nosuch"),
    case("cancel-unknown-service", "cancel nosuch --kubeconfig {kubeconfig}", 64, "nosuch"),
    case("option-without-its-value", "plan keycloak --backup", 64, "'--backup' requires an argument",
         "`pgrestore plan --help`"),
    case("flag-given-a-value", "plan keycloak --detailed-exitcode=yes", 64, "'--detailed-exitcode' does not take",
         "`pgrestore plan --help`"),
    case("secrets-not-a-choice", "plan keycloak --secrets sometimes", 64, "--secrets", "from-manifest",
         "alter-users"),
    case("format-not-a-choice", "show {tmp}/p.json --format bogus", 64, "'bogus' is not one of", "markdown"),
    case("manifest-without-dump", "plan keycloak --manifest {manifest}", 64, "--manifest goes with --dump",
         "pass the dump file too"),
    case("output-folder-missing", "plan keycloak -o {tmp}/nosuch/p.json", 64, "nosuch does not exist",
         "create it or choose another path"),
    case("output-is-a-directory", "plan keycloak -o {tmp}/out", 64, "out is a directory", "name the plan file",
         files={"out": DIR}),
    case("pin-dir-not-a-folder", "plan keycloak --pin-dir {tmp}/nosuch", 64, "--pin-dir", "nosuch is not a folder",
         "create it or choose another"),
    case("no-safety-dump-with-a-safety-dir", "plan keycloak --no-safety-dump --safety-dir {tmp}", 64,
         "--no-safety-dump and --safety-dir contradict each other", "choose one"),
    case("force-unlock-without-lock-id", "force-unlock keycloak", 64, "Missing argument 'lock_id'",
         "`pgrestore force-unlock --help`"),
]


def write(folder: Path, files: dict) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is DIR:
            path.mkdir()
            continue
        content = content() if callable(content) else content
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


@pytest.mark.parametrize("args,code,words,files,env", CASES)
def test_bad_input_is_one_line_with_its_exit_code(tmp_path, args, code, words, files, env):
    case_dir, home = tmp_path / "case", tmp_path / "home"
    case_dir.mkdir()
    home.mkdir()
    (tmp_path / "unreachable.kubeconfig").write_text(kubeconfig())
    write(case_dir, files)
    values = {"tmp": case_dir, "dump": DUMP, "manifest": MANIFEST, "kubeconfig": tmp_path / "unreachable.kubeconfig"}
    environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "PYTHONPATH": str(ROOT),
               "KUBECONFIG": "/nonexistent/kubeconfig"}
    for name, value in env.items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value.format(**values)
    argv = [a.format(**values) for a in shlex.split(args)]
    res = cli_process.run(argv, env=environ, cwd=case_dir)

    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert "Traceback" not in res.stderr + res.stdout, res.stderr
    assert len(lines) == 1, f"want one line, got:\n{res.stderr}"
    assert lines[0].startswith("Error: "), lines[0]
    assert res.returncode == code, f"exit {res.returncode}, want {code}: {lines[0]}"
    missing = [w for w in words if w not in lines[0]]
    assert not missing, f"{missing} not in: {lines[0]}"
    assert not list(home.glob(".local/state/pgrestore/crash-*.log")), "a crash log was written"
