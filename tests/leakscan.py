"""The leak scan: no credential password in anything pgrestore wrote or said during a test session.

Registered from tests/conftest.py. Over the whole session it collects:

- every test's captured stdout/stderr and failure report (pytest's report sections and longrepr);
- the stdout/stderr of every `pgrestore` process a test ran (`subprocess.run`/`communicate` is observed
  for argv naming pgrestore, and `Cli.popen` in tests/apply/conftest.py tees what a test reads);
- every file under the session's tmp paths (plans, journals, local safety dumps and manifests, pinned
  copies, the temporary HOMEs of tests/cli), and pgrestore's crash logs: XDG_STATE_HOME is pointed at a
  folder under the session's tmp paths, so `~/.local/state/pgrestore/crash-*.log` lands there
  (pgrestore/cli.py `_crash_log`); crash logs in the real state folder and in tests/cli's `pgrestore-cli-home-*`
  temporary HOMEs written during the session are scanned too;
- on the sandbox, after every test that used it: the `pgrestore-*` ConfigMaps (journals) and Leases (locks) in
  every namespace, and the objects pgrestore wrote to S3 under `pgrestore/` that are not dumps (manifests).

The passwords looked for: every `password` of every credential Secret of every sandbox cluster, sampled when
the sandbox is first used and after every sandbox test (a restore replaces them, a re-created cluster gets new
ones), every backup manifest's passwords in the sandbox's bucket, the fake worlds' (tests/fakes/worlds: the
worlds' Secrets and the backup manifests beside them), and every Secret of every in-memory FakeKube, sampled
after each test's call (its operator draws fresh random passwords for a re-created cluster). A text leaks a
password if it holds it in plain text, or base64-encoded as a Secret's `data` would.

Safety manifests (and pinned copies of backup manifests) hold the credential Secrets as Kubernetes Secret YAML
with base64 `data` on purpose: that is the format of CSM's own backup `.manifest` (postgres_db_backup.py), and
the rollback puts those Secrets back from it. So a Secret manifest is allowed the base64 form, never the plain
text; a safety manifest must lie under the bucket's `pgrestore/` prefix (or be a local 0600 file, which is how
executors/steps/_artifacts.py writes --safety-dir files); in S3 it is written with the bucket's default
(private) ACL and no server-side encryption, beside CSM's own manifests in the same bucket.

At the session's end a leak fails the run (exit 1) with one line per finding naming where (test, file,
ConfigMap or S3 key) and which secret; the password itself is never printed. A summary line says what was
scanned. `scan_text`/`Scanner` are also used by tests/core/test_leakscan.py to prove the scan catches a leak.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import time
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

WORLDS = Path(__file__).resolve().parent / "fakes" / "worlds"
PGRESTORE_PREFIX = "pgrestore/"
DUMP_SUFFIXES = (".psql", ".sql", ".gz", ".sql.gz")
# Shorter "passwords" would match ordinary words (a sandbox test sets one to "replaced", a word of pgrestore's
# own messages); CSM's and the sandbox's are 64 characters (sandbox/credentials.py), the fake worlds' 26 or more.
MIN_LENGTH = 16
MAX_FILE_BYTES = 256 * 1024 * 1024  # a file is read in chunks; anything larger than this is not a test artifact


@dataclass(frozen=True)
class Leak:
    where: str
    secret: str
    form: str  # "plain text" or "base64"

    def line(self) -> str:
        return f"{self.where}: the password of {self.secret} ({self.form})"


@dataclass
class Scanner:
    """Known passwords (password -> the secret it belongs to) and the texts to look in."""

    passwords: dict[str, str] = field(default_factory=dict)
    texts: list[tuple[str, str, bool]] = field(default_factory=list)  # (where, text, is a Secret manifest)
    files: list[Path] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    secrets: set[str] = field(default_factory=set)

    def add_password(self, password: str | None, secret: str) -> None:
        if password and len(password) >= MIN_LENGTH:
            self.passwords.setdefault(password, secret)
            self.secrets.add(secret.split(" (")[0])

    def add_text(self, kind: str, where: str, text: str | bytes | None, manifest: bool | None = None) -> None:
        if not text:
            return
        s = text.decode(errors="replace") if isinstance(text, bytes) else text
        self.texts.append((where, s, is_secret_manifest(s) if manifest is None else manifest))
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def add_file(self, path: Path) -> None:
        self.files.append(path)

    def scan(self) -> list[Leak]:
        if not self.passwords:
            return []
        needles = Needles(self.passwords)
        leaks: list[Leak] = []
        for where, text, manifest in self.texts:
            leaks += needles.find(where, text, manifest)
        for path in self.files:
            leaks += scan_file(needles, path)
        return sorted(set(leaks), key=lambda x: (x.where, x.secret))


class Needles:
    """One regex for every password in plain text and in base64, so a text is read once."""

    def __init__(self, passwords: dict[str, str]):
        self.owner: dict[str, tuple[str, str]] = {}
        for pw, secret in passwords.items():
            self.owner[pw] = (secret, "plain text")
            self.owner.setdefault(base64.b64encode(pw.encode()).decode(), (secret, "base64"))
        self.pattern = re.compile("|".join(re.escape(n) for n in sorted(self.owner, key=len, reverse=True)))
        self.longest = max(len(n) for n in self.owner)

    def find(self, where: str, text: str, manifest: bool) -> list[Leak]:
        out = []
        for m in self.pattern.finditer(text):
            secret, form = self.owner[m.group(0)]
            if manifest and form == "base64":
                continue  # a Secret manifest holds base64 data by design (see the module docstring)
            out.append(Leak(where, secret, form))
        return out


def is_secret_manifest(text: str) -> bool:
    """YAML documents of Kubernetes objects, Secrets among them: CSM's backup `.manifest` format
    (core/manifest.py), also as tests shape bad ones (a ConfigMap among the Secrets)."""
    head = text.lstrip()[:4096]
    if "kind: Secret" not in head or head.startswith("{"):
        return False
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError:
        return False
    return (all(isinstance(d, dict) and "kind" in d for d in docs)
            and any(d.get("kind") == "Secret" for d in docs))


def scan_file(needles: Needles, path: Path) -> list[Leak]:
    """A file read in chunks with an overlap as long as the longest needle: a dump is never held whole."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return []
        with path.open("rb") as f:
            first = f.read(1 << 20)
            manifest = size <= (1 << 20) and is_secret_manifest(first.decode(errors="replace"))
            leaks, tail, chunk = [], "", first
            while chunk:
                text = tail + chunk.decode("latin-1")
                leaks += needles.find(str(path), text, manifest)
                tail = text[-needles.longest:]
                chunk = f.read(1 << 20)
    except OSError:
        return []
    return list(set(leaks))


def scan_text(passwords: dict[str, str], where: str, text: str, manifest: bool = False) -> list[Leak]:
    return Needles(passwords).find(where, text, manifest) if passwords else []


# -- passwords -------------------------------------------------------------------------------------------
def manifest_passwords(text: str, where: str) -> Iterator[tuple[str, str]]:
    """(password, secret) of every Secret in a backup manifest."""
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError:
        return
    for d in docs:
        if isinstance(d, dict) and d.get("kind") == "Secret" and "password" in (d.get("data") or {}):
            meta = d.get("metadata") or {}
            yield _b64(d["data"]["password"]), f"{meta.get('namespace')}/{meta.get('name')} (manifest {where})"


def world_passwords(folder: Path = WORLDS) -> Iterator[tuple[str, str]]:
    for world in sorted(folder.glob("*.json")):
        for o in json.loads(world.read_text()).get("objects", []):
            if o.get("kind") == "Secret" and "password" in (o.get("data") or {}):
                meta = o["metadata"]
                yield _b64(o["data"]["password"]), f"{meta.get('namespace')}/{meta['name']} (fake world {world.name})"
    for manifest in sorted(folder.glob("*.manifest.yaml")):
        yield from manifest_passwords(manifest.read_text(), manifest.name)


def _b64(value: str) -> str:
    try:
        return base64.b64decode(value).decode()
    except (ValueError, UnicodeDecodeError):
        return ""


# -- the sandbox -----------------------------------------------------------------------------------------
class SandboxSampler:
    """What the session's sandbox holds, sampled when asked: passwords, ConfigMaps, Leases, S3 objects."""

    def __init__(self, sandbox, scanner: Scanner):
        from pgrestore_sandbox import s3 as sandbox_s3
        self.sandbox, self.scanner = sandbox, scanner
        self.s3 = sandbox_s3.client(sandbox.s3_endpoint)
        self.bucket = sandbox_s3.BUCKET
        self.seen_objects: set[tuple[str, str]] = set()
        self.seen_texts: set[tuple[str, str]] = set()
        self.misplaced: list[str] = []

    def sample(self, when: str) -> None:
        core = self.sandbox.api.core
        for s in core.list_secret_for_all_namespaces().items:
            if ".credentials" in s.metadata.name and "password" in (s.data or {}):
                self.scanner.add_password(_b64(s.data["password"]), f"{s.metadata.namespace}/{s.metadata.name}")
        for cm in core.list_config_map_for_all_namespaces().items:
            if cm.metadata.name.startswith("pgrestore-"):
                self._text("configmap", f"ConfigMap {cm.metadata.namespace}/{cm.metadata.name} ({when})",
                           json.dumps(cm.data or {}, sort_keys=True))
        for lease in self.sandbox.api.coordination.list_lease_for_all_namespaces().items:
            if lease.metadata.name.startswith("pgrestore-"):
                self._text("lease", f"Lease {lease.metadata.namespace}/{lease.metadata.name} ({when})",
                           json.dumps(lease.to_dict(), default=str))
        self._s3(when)

    def _text(self, kind: str, where: str, text: str) -> None:
        key = (where.split(" (")[0], text)
        if key not in self.seen_texts:  # the same journal after ten tests is scanned once
            self.seen_texts.add(key)
            self.scanner.add_text(kind, where, text)

    def _s3(self, when: str) -> None:
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            for obj in page.get("Contents", []):
                key, etag = obj["Key"], obj["ETag"]
                if (key, etag) in self.seen_objects:
                    continue
                self.seen_objects.add((key, etag))
                ours = key.startswith(PGRESTORE_PREFIX)
                if "safety" in key.rsplit("/", 1)[-1] and not ours:
                    self.misplaced.append(f"s3://{self.bucket}/{key}: a safety artifact outside the "
                                          f"{PGRESTORE_PREFIX} prefix")
                if key.endswith(DUMP_SUFFIXES) or obj["Size"] > (4 << 20):
                    continue
                body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read().decode(errors="replace")
                if ours:
                    self.scanner.add_text("s3 object", f"s3://{self.bucket}/{key} ({when})", body)
                elif key.endswith(".manifest"):
                    for pw, secret in manifest_passwords(body, key):
                        self.scanner.add_password(pw, secret)
                    self.scanner.counts["backup manifest"] = self.scanner.counts.get("backup manifest", 0) + 1


# -- the plugin ------------------------------------------------------------------------------------------
class _Tee:
    """A text stream of a child process that keeps a copy of what the test reads from it."""

    def __init__(self, stream, where: str):
        self._stream, self._where, self._seen = stream, where, []
        _STATE.tees.append(self)

    def __iter__(self):
        for line in self._stream:
            self._seen.append(line)
            yield line

    def readline(self, *a):
        line = self._stream.readline(*a)
        self._seen.append(line)
        return line

    def read(self, *a):
        data = self._stream.read(*a)
        self._seen.append(data)
        return data

    def __getattr__(self, name):
        return getattr(self._stream, name)

    def text(self) -> tuple[str, str]:
        return self._where, "".join(x for x in self._seen if isinstance(x, str))


def tee(proc: subprocess.Popen, what: str) -> subprocess.Popen:
    """Keep a copy of what a test reads from a pgrestore child's stdout and stderr (Cli.popen)."""
    where = f"{_STATE.current} ({what})"
    if proc.stdout is not None:
        proc.stdout = _Tee(proc.stdout, where + " stdout")  # type: ignore[assignment]
    if proc.stderr is not None:
        proc.stderr = _Tee(proc.stderr, where + " stderr")  # type: ignore[assignment]
    return proc


class _State:
    def __init__(self) -> None:
        self.scanner = Scanner()
        self.current = "(session)"
        self.started = time.time()
        self.sampler: SandboxSampler | None = None
        self.tees: list[_Tee] = []
        self.basetemp: Path | None = None
        self.findings: list[str] = []
        self.seconds = 0.0
        self.sample_seconds = 0.0
        self.worker_passwords = 0  # passwords the xdist workers scanned for (each has its own)
        self.original_communicate = subprocess.Popen.communicate
        self.fakes: list[weakref.ref] = []


_STATE = _State()


def _is_pgrestore(args) -> bool:
    argv = [str(a) for a in args] if isinstance(args, (list, tuple)) else [str(args)]
    return any(a == "pgrestore.cli" or a.endswith("/pgrestore") for a in argv)


def _verb(args) -> str:
    argv = [str(a) for a in args] if isinstance(args, (list, tuple)) else []
    first = next((i for i, a in enumerate(argv) if a == "pgrestore.cli" or a.endswith("/pgrestore")), len(argv))
    return argv[first + 1] if first + 1 < len(argv) else ""


def observe_pgrestore(args, out, err) -> None:
    """A pgrestore process's output, to be scanned (also of runs forked by tests/cli_process.py)."""
    verb = _verb(args)
    _STATE.scanner.add_text("pgrestore output", f"{_STATE.current} (pgrestore {verb} stdout)", out)
    _STATE.scanner.add_text("pgrestore output", f"{_STATE.current} (pgrestore {verb} stderr)", err)


def _communicate(self, *args, **kwargs):
    out, err = _STATE.original_communicate(self, *args, **kwargs)
    if _is_pgrestore(self.args):
        observe_pgrestore(self.args, out, err)
    return out, err


@pytest.hookimpl(trylast=True)  # after the tmp_path plugin made its factory
def pytest_configure(config: pytest.Config) -> None:
    basetemp = config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    _STATE.basetemp = basetemp
    state_home = basetemp / "xdg-state"
    state_home.mkdir(exist_ok=True)
    os.environ["XDG_STATE_HOME"] = str(state_home)  # pgrestore's crash logs of this session land here
    homes = basetemp / "cli-homes"  # tests/cli_process.py fresh_home(): scanned below, removed with basetemp
    homes.mkdir(exist_ok=True)
    os.environ["PGRESTORE_TEST_HOMES"] = str(homes)
    subprocess.Popen.communicate = _communicate  # type: ignore[method-assign]
    for pw, secret in world_passwords():
        _STATE.scanner.add_password(pw, secret)
    _watch_fake_kubes()


def _watch_fake_kubes() -> None:
    """Remember every FakeKube made (weakly), to read its Secrets after each test's call."""
    from tests.fakes.fake_kube import FakeKube
    original = FakeKube.__init__
    if getattr(original, "_leakscan", False):
        return

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        _STATE.fakes.append(weakref.ref(self))
    init._leakscan = True  # type: ignore[attr-defined]
    FakeKube.__init__ = init  # type: ignore[method-assign]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item):
    yield
    alive = [ref() for ref in _STATE.fakes]
    _STATE.fakes = [weakref.ref(f) for f in alive if f is not None]
    for fake in alive:
        for (kind, ns, name), obj in list(getattr(fake, "objects", {}).items()):
            if kind == "Secret" and "password" in (obj.get("data") or {}):
                _STATE.scanner.add_password(_b64(obj["data"]["password"]), f"{ns}/{name} (FakeKube)")


def pytest_unconfigure(config: pytest.Config) -> None:
    subprocess.Popen.communicate = _STATE.original_communicate  # type: ignore[method-assign]


def pytest_runtest_logstart(nodeid: str, location) -> None:
    _STATE.current = nodeid


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for name, content in report.sections:
        _STATE.scanner.add_text("captured output", f"{report.nodeid} [{name}]", content)
    if report.failed and report.longrepr is not None:
        _STATE.scanner.add_text("failure report", f"{report.nodeid} [failure report]", report.longreprtext)


@pytest.fixture(autouse=True)
def _leakscan_sandbox_sample(request: pytest.FixtureRequest):
    """For a test that uses the sandbox: sample it first (once per session) and after the test."""
    if "sandbox" not in request.fixturenames:
        yield
        return
    sandbox = request.getfixturevalue("sandbox")
    if _STATE.sampler is None:
        _STATE.sampler = SandboxSampler(sandbox, _STATE.scanner)
        _timed_sample("session start")
    yield
    _timed_sample(f"after {request.node.nodeid}")


def _timed_sample(when: str) -> None:
    assert _STATE.sampler is not None
    t = time.monotonic()
    _STATE.sampler.sample(when)
    _STATE.sample_seconds += time.monotonic() - t


def session_files(basetemp: Path | None, since: float) -> Iterable[Path]:
    if basetemp is not None and basetemp.exists():
        yield from (p for p in basetemp.rglob("*") if p.is_file() and not p.is_symlink())
    real = Path.home() / ".local" / "state" / "pgrestore"
    yield from (p for p in real.glob("crash-*.log") if p.stat().st_mtime >= since)


def _local_safety_files_protected(files: list[Path]) -> list[str]:
    """A local safety manifest is written 0600 (executors/steps/_artifacts.py FileSink)."""
    return [f"{p}: a safety manifest readable by others (mode {oct(p.stat().st_mode & 0o777)}, not 0600)"
            for p in files if p.name.endswith("safety.manifest") and p.stat().st_mode & 0o077]


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus) -> None:
    t = time.monotonic()
    scanner = _STATE.scanner
    for where, text in (x.text() for x in _STATE.tees):
        scanner.add_text("pgrestore output", where, text)
    files = list(session_files(_STATE.basetemp, _STATE.started))
    for path in files:
        scanner.add_file(path)
    scanner.counts["file"] = len(files)
    _STATE.findings = [x.line() for x in scanner.scan()] + _local_safety_files_protected(files) + (
        _STATE.sampler.misplaced if _STATE.sampler else [])
    _STATE.seconds = time.monotonic() - t + _STATE.sample_seconds
    worker = getattr(session.config, "workerinput", None)
    if worker is not None:
        _hand_to_controller(worker["workerid"])
    else:
        _merge_workers()
    if _STATE.findings and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# Under pytest-xdist each worker scans what it saw (its outputs, its fakes' passwords) and leaves the
# result beside its basetemp; the controller, whose sessionfinish runs after every worker's, reports them.
def _hand_to_controller(workerid: str) -> None:
    assert _STATE.basetemp is not None
    scanner = _STATE.scanner
    (_STATE.basetemp.parent / f"leakscan-{workerid}.json").write_text(json.dumps({
        "findings": _STATE.findings, "counts": scanner.counts, "secrets": sorted(scanner.secrets),
        "passwords": len(scanner.passwords), "seconds": _STATE.seconds}))


def _merge_workers() -> None:
    if _STATE.basetemp is None:
        return
    for path in sorted(_STATE.basetemp.glob("leakscan-gw*.json")):
        part = json.loads(path.read_text())
        _STATE.findings += [f"[{path.stem.removeprefix('leakscan-')}] {f}" for f in part["findings"]]
        for kind, n in part["counts"].items():
            _STATE.scanner.counts[kind] = _STATE.scanner.counts.get(kind, 0) + n
        _STATE.scanner.secrets.update(part["secrets"])
        _STATE.worker_passwords += part["passwords"]
        _STATE.seconds += part["seconds"]


def pytest_terminal_summary(terminalreporter) -> None:
    scanner, findings = _STATE.scanner, _STATE.findings
    what = ", ".join(f"{n} {kind}{'s' if n != 1 else ''}" for kind, n in sorted(scanner.counts.items()))
    passwords = len(scanner.passwords) + _STATE.worker_passwords
    summary = (f"leak scan: {passwords} passwords of {len(scanner.secrets)} secrets in {what} "
               f"({_STATE.seconds:.1f}s)")
    if not findings:
        terminalreporter.write_line(summary + ": nothing leaked")
        return
    terminalreporter.write_sep("=", f"LEAK SCAN FAILED: {len(findings)} finding(s)", red=True, bold=True)
    for line in findings:
        terminalreporter.write_line(line, red=True)
    terminalreporter.write_line(summary)
