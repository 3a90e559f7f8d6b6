"""The `pgrestore` command line. The only place that maps errors to exit codes (pgrestore/errors.py).

Every failure is one line on stderr: usage errors with the command's --help hint, our own
errors as they are worded, and anything unexpected as one line naming a crash log that
holds the traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from pgrestore import __version__
from pgrestore.core.memory import return_freed_buffers
from pgrestore.errors import EXIT_INTERNAL, PgRestoreError, UsageError

if TYPE_CHECKING:  # imported when a command needs it: `--help` and usage errors load no client library
    from pgrestore.adapters.connect import Connection


def _click_exception_modules() -> list[Any]:
    """Where the parser's exceptions live: Typer 0.2x parses with its own copy of click
    (typer._click) and does not depend on click; older ones use click itself. Either may be absent."""
    found = []
    for name in ("typer._click.exceptions", "click.exceptions"):
        try:
            found.append(importlib.import_module(name))
        except ImportError:
            continue
    return found


_CLICKS = _click_exception_modules()


def _click_errors(name: str) -> tuple[type[BaseException], ...]:
    return tuple({getattr(m, name) for m in _CLICKS if hasattr(m, name)})


USAGE_ERRORS, CLICK_ERRORS = _click_errors("UsageError"), _click_errors("ClickException")
ABORTS, EXITS = _click_errors("Abort") + (KeyboardInterrupt,), _click_errors("Exit")


app = typer.Typer(
    name="pgrestore",
    help="Plan, review and apply restores of postgres-operator clusters from backups.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # main() reports errors; locals can hold secrets
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """pgrestore: Terraform-style plan/apply restores for CSM Postgres clusters."""


KubeconfigOpt = typer.Option(None, "--kubeconfig", envvar="KUBECONFIG", help="kubeconfig to use.")
ContextOpt = typer.Option(None, "--context", help="The kubeconfig's context to use (default: its current-context).")
S3EndpointOpt = typer.Option(None, "--s3-endpoint", envvar="PGRESTORE_S3_ENDPOINT",
                             help="S3 endpoint; default: from the postgres-backup-s3-credentials secret.")
S3AccessOpt = typer.Option(None, "--s3-access-key", envvar="PGRESTORE_S3_ACCESS_KEY", help="S3 access key.")
# The S3 secret key never comes on the command line (the process list, shell history and crash
# logs would show it): from PGRESTORE_S3_SECRET_KEY or a file; main() refuses --s3-secret-key.
S3_SECRET_ENV = "PGRESTORE_S3_SECRET_KEY"
S3SecretFileOpt = typer.Option(None, "--s3-secret-key-file", help=f"A file holding the S3 secret key (or set "
                                                                  f"{S3_SECRET_ENV}); default: from the "
                                                                  f"postgres-backup-s3-credentials secret.")
_SECRET_FLAG = "--s3-secret-key"
_secrets_read: list[str] = []  # kept out of crash logs


def _s3_secret_key(path: Path | None) -> str | None:
    if path is None:
        key = os.environ.get(S3_SECRET_ENV) or None
    else:
        try:
            key = path.read_text().strip() or None
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError(f"--s3-secret-key-file {path}: cannot read it "
                             f"({getattr(e, 'strerror', None) or 'not text'}); name a file holding the key") from None
        if key is None:
            raise UsageError(f"--s3-secret-key-file {path} is empty; name a file holding the key")
    if key:
        _secrets_read.append(key)
    return key


def _connection(kubeconfig: str | None, context: str | None, endpoint: str | None = None, access: str | None = None,
                secret_file: Path | None = None) -> Connection:
    """Where the command talks to, built once here from its options."""
    from pgrestore.adapters.connect import Connection, S3Options
    s3 = S3Options(endpoint=endpoint, access_key=access, secret_key=_s3_secret_key(secret_file))
    return Connection(kubeconfig=kubeconfig, context=context, s3=s3)


def _refused_secret_flag(argv: list[str]) -> str | None:
    """The one-line refusal of a secret key on the command line, if argv has one."""
    if any(a == _SECRET_FLAG or a.startswith(_SECRET_FLAG + "=") for a in argv):
        return (f"Error: {_SECRET_FLAG} would show the key in the process list and shell history; put it in "
                f"{S3_SECRET_ENV} or in a file named by --s3-secret-key-file; see `{_command_path(argv)} --help`")
    return None


@app.command()
def version() -> None:
    """Print pgrestore's version."""
    typer.echo(__version__)


@app.command()
def services() -> None:
    """List the known service definitions."""
    from .commands.listing import services_table
    typer.echo(services_table(), nl=False)


@app.command()
def backups(service: str, kubeconfig: str = KubeconfigOpt, context: str = ContextOpt,
            s3_endpoint: str = S3EndpointOpt, s3_access_key: str = S3AccessOpt,
            s3_secret_key_file: Path = S3SecretFileOpt) -> None:
    """List SERVICE's backups in S3 (both formats), newest first."""
    from .commands.listing import backups_table
    connection = _connection(kubeconfig, context, s3_endpoint, s3_access_key, s3_secret_key_file)
    typer.echo(backups_table(service, connection=connection), nl=False)


class SecretsMode(str, Enum):
    from_manifest = "from-manifest"
    alter_users = "alter-users"


@app.command()
def plan(
    service: list[str] = typer.Argument(None, help="The service(s) to restore; several make one plan set."),
    all_services: bool = typer.Option(False, "--all", help="Every known service, in dependency order."),
    backup: str = typer.Option("latest", "--backup", help="latest, or the S3 key of a .psql or .sql.gz."),
    dump: Path = typer.Option(None, "--dump", help="Restore a local dump file instead of an S3 backup."),
    manifest: Path = typer.Option(None, "--manifest", help="The .manifest beside --dump, if any."),
    secrets: SecretsMode = typer.Option(None, "--secrets", help="from-manifest or alter-users (default: "
                                                                "from-manifest when the backup has a manifest)."),
    output: Path = typer.Option(None, "-o", "--output", help="Write the plan here instead of stdout."),
    pin_dir: Path = typer.Option(None, "--pin-dir", help="Pin the backup in this local folder instead of the "
                                                         "bucket's pgrestore/ prefix."),
    safety_dir: Path = typer.Option(None, "--safety-dir", help="Write the safety dump of the live cluster to "
                                                               "this folder instead of the bucket's pgrestore/."),
    no_safety_dump: bool = typer.Option(False, "--no-safety-dump", help="Take no safety dump (a cluster that cannot "
                                                                        "answer at all): a failed apply cannot put the "
                                                                        "data back."),
    no_host_steps: bool = typer.Option(False, "--no-host-steps", help="Make the service's host steps (pdsh on the "
                                                                      "nodes) manual: apply stops and prints them."),
    storage_nodes: str = typer.Option(None, "--storage-nodes", help="Comma-separated storage nodes for host steps "
                                                                    "(default: the service file's)."),
    postgresql_spec: Path = typer.Option(None, "--postgresql-spec", help="When the postgresql resource is gone "
                                                                         "and no Helm release renders it: its spec "
                                                                         "(YAML or JSON; a manifest holding it too)."),
    pvc_backup: Path = typer.Option(None, "--pvc-backup", help="A tar of the client's data volume to restore too "
                                                               "(VCS: backup_vcs.sh's vcs.tar)."),
    detailed_exitcode: bool = typer.Option(False, "--detailed-exitcode",
                                           help="Exit 0 with no changes, 1 on error, 2 with changes."),
    kubeconfig: str = KubeconfigOpt, context: str = ContextOpt, s3_endpoint: str = S3EndpointOpt,
    s3_access_key: str = S3AccessOpt, s3_secret_key_file: Path = S3SecretFileOpt,
) -> None:
    """Write a restore plan for SERVICE (JSON on stdout, summary on stderr). Changes nothing."""
    from pgrestore.planner.options import PlanOptions
    from pgrestore.planner.snapshot import BackupChoice

    from .commands.plan import run
    from .commands.plan_set import chosen_services, run_set
    names = chosen_services(list(service or []), all_services)
    one_backup = [f for f, given in (("--backup", backup != "latest"), ("--dump", dump is not None),
                                     ("--postgresql-spec", postgresql_spec is not None),
                                     ("--pvc-backup", pvc_backup is not None)) if given]
    if len(names) > 1 and one_backup:
        raise UsageError(f"{one_backup[0]} names one service's backup or spec; plan that service on its own "
                         f"(a plan of several services restores each from its newest intact backup)")
    if manifest is not None and dump is None:
        raise UsageError("--manifest goes with --dump; pass the dump file too")
    for flag, folder in (("--pin-dir", pin_dir), ("--safety-dir", safety_dir)):
        if folder is not None and not folder.is_dir():
            raise UsageError(f"{flag} {folder} is not a folder; create it or choose another")
    if no_safety_dump and safety_dir is not None:
        raise UsageError("--no-safety-dump and --safety-dir contradict each other; choose one")
    choices = PlanOptions(secrets_mode=secrets.value if secrets else None, pin_dir=pin_dir, safety_dir=safety_dir,
                          safety_dump=not no_safety_dump, manual_hosts=_manual_hosts(no_host_steps),
                          storage_nodes=_node_list(storage_nodes), postgresql_spec=postgresql_spec,
                          volume_backup=pvc_backup)
    connection = _connection(kubeconfig, context, s3_endpoint, s3_access_key, s3_secret_key_file)
    if len(names) > 1:
        raise typer.Exit(run_set(names, options=choices, output=output, detailed_exitcode=detailed_exitcode,
                                 connection=connection))
    raise typer.Exit(run(names[0], choice=BackupChoice(backup, dump, manifest), options=choices, output=output,
                         detailed_exitcode=detailed_exitcode, connection=connection))


def _manual_hosts(no_host_steps: bool) -> str | None:
    """Why host steps must be manual, if they must: pdsh is looked for where plan runs, which is
    where apply is expected to run (the admin node)."""
    if no_host_steps:
        return "--no-host-steps"
    return None if shutil.which("pdsh") else "pdsh not found on this machine"


def _node_list(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    nodes = tuple(n.strip() for n in value.split(",") if n.strip())
    bad = [n for n in nodes if not re.fullmatch(r"[a-z0-9][a-z0-9.-]*", n)]
    if bad:
        raise UsageError(f"--storage-nodes: {bad[0]!r} is not a host name; give names like ncn-s001,ncn-s002")
    return nodes


class ShowFormat(str, Enum):
    text = "text"
    markdown = "markdown"


@app.command()
def show(plan_file: Path, format: ShowFormat = typer.Option(ShowFormat.text, "--format"),
         verify: bool = typer.Option(False, "--verify", help="Check the plan's signature with the cluster's plan "
                                                             "key first, as apply does (needs the cluster)."),
         kubeconfig: str = KubeconfigOpt, context: str = ContextOpt) -> None:
    """Render a plan for review: backup, changes, every step's SQL, commands and targets, rollback, signature."""
    from .commands.show import run as render
    typer.echo(render(plan_file, markdown=format == ShowFormat.markdown, verify=verify,
                      connection=_connection(kubeconfig, context)), nl=False)


@app.command()
def apply(
    plan_file: Path,
    auto_approve: bool = typer.Option(False, "--auto-approve", help="Do not ask; required without a terminal."),
    resume: bool = typer.Option(False, "--resume", help="Continue after the last finished step of this plan."),
    confirm: list[str] = typer.Option(None, "--confirm", help="With --resume: the manual step (id; in a plan set "
                                                              "service/id) you have run."),
    json_events: bool = typer.Option(False, "--json", help="One JSON event per line on stdout."),
    in_cluster: bool = typer.Option(False, "--in-cluster", help="Apply in a Job (in the namespace of the "
                                                                "pgrestore ServiceAccount) and follow it; "
                                                                "Ctrl-C stops following, never the Job."),
    image: str = typer.Option(None, "--image", help="With --in-cluster: the pgrestore image (default: "
                                                    "registry.local/pgrestore:<this version>)."),
    resume_if_started: bool = typer.Option(False, "--resume-if-started", help="Resume if this plan was started "
                                                                              "before, else start; SIGTERM stops "
                                                                              "resumably (what the Job runs)."),
    kubeconfig: str = KubeconfigOpt, context: str = ContextOpt, s3_endpoint: str = S3EndpointOpt,
    s3_access_key: str = S3AccessOpt, s3_secret_key_file: Path = S3SecretFileOpt,
) -> None:
    """Carry out a reviewed plan: refuse stale plans, lock, checkpoint every step, roll back on failure."""
    from .commands.apply import apply as do_apply
    from .commands.apply import apply_in_cluster
    if confirm and not (resume or resume_if_started):
        raise UsageError("--confirm goes with --resume: it says a manual step of a stopped apply was done")
    if image and not in_cluster:
        raise UsageError("--image goes with --in-cluster: it names the image the Job runs")
    if in_cluster and resume_if_started:
        raise UsageError("--resume-if-started is what the Job runs; with --in-cluster pass --resume (or nothing)")
    connection = _connection(kubeconfig, context, s3_endpoint, s3_access_key, s3_secret_key_file)
    if in_cluster:
        apply_in_cluster(plan_file, auto_approve=auto_approve, resume=resume, as_json=json_events, image=image,
                         confirmed=tuple(confirm or ()), connection=connection)
        return
    do_apply(plan_file, auto_approve=auto_approve, resume=resume, as_json=json_events, confirmed=tuple(confirm or ()),
             resume_if_started=resume_if_started, connection=connection)


@app.command()
def rollback(plan_file: Path, kubeconfig: str = KubeconfigOpt, context: str = ContextOpt,
             json_events: bool = typer.Option(False, "--json", help="One JSON event per line on stdout.")) -> None:
    """Run a plan's rollback steps: put back what the plan recorded (resource, members, client replicas)."""
    from .commands.apply import rollback as do_rollback
    do_rollback(plan_file, as_json=json_events, connection=_connection(kubeconfig, context))


@app.command()
def status(service: str, kubeconfig: str = KubeconfigOpt, context: str = ContextOpt,
           json_out: bool = typer.Option(False, "--json", help="The journal and the lock holder as JSON.")) -> None:
    """Where SERVICE's latest apply stands, from anywhere: each step, a running stream's bytes, rate and
    time left, and who holds the apply lock."""
    from .commands.status import run as status_of
    typer.echo(status_of(service, connection=_connection(kubeconfig, context), as_json=json_out), nl=False)


@app.command()
def attach(service: str, kubeconfig: str = KubeconfigOpt, context: str = ContextOpt,
           json_events: bool = typer.Option(False, "--json", help="One JSON event per line on stdout.")) -> None:
    """Follow SERVICE's newest in-cluster apply (its Job) until it ends; Ctrl-C stops following, never the Job."""
    from .commands.in_cluster import attach as follow_job
    sentence = follow_job(service, connection=_connection(kubeconfig, context), as_json=json_events)
    if not json_events:
        typer.secho(f"Apply complete: {sentence}.", err=True, fg=typer.colors.GREEN)


@app.command()
def cancel(service: str, kubeconfig: str = KubeconfigOpt, context: str = ContextOpt) -> None:
    """Ask SERVICE's running apply (local or in-cluster) to stop before its next step and roll back."""
    from .commands.in_cluster import cancel as ask
    typer.echo(ask(service, connection=_connection(kubeconfig, context)))


@app.command("force-unlock")
def force_unlock(service: str, lock_id: str, kubeconfig: str = KubeconfigOpt, context: str = ContextOpt) -> None:
    """Remove SERVICE's apply lock, by the lock id a refused apply printed."""
    from .commands.apply import unlock
    unlock(service, lock_id, connection=_connection(kubeconfig, context))


SANDBOX_EXTRA = ("aiohttp", "moto", "psycopg")


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _attach_sandbox() -> None:
    """The sandbox's commands when its distribution is installed (pgrestore-sandbox, from sandbox/ in
    pgrestore's repository); otherwise a command that says how."""
    if all(_installed(m) for m in ("pgrestore_sandbox", *SANDBOX_EXTRA)):
        from pgrestore_sandbox.cli import app as sandbox_app
        app.add_typer(sandbox_app, name="sandbox")
        return

    @app.command("sandbox", context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
                 add_help_option=False)
    def sandbox_missing() -> None:
        """The rehearsal sandbox (its own distribution: pgrestore-sandbox)."""
        raise UsageError("the sandbox is its own distribution: pip install ./sandbox from pgrestore's repository "
                         "(scripts/setup.sh installs it)")


_attach_sandbox()


def _crash_log(exc: BaseException) -> Path:
    folder = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "pgrestore"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        folder = Path(tempfile.gettempdir())
    path = folder / f"crash-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(_hide_secrets(f"pgrestore {__version__}: {' '.join(sys.argv)}\n"
                              + "".join(traceback.format_exception(exc))))
    return path


def _hide_secrets(text: str) -> str:
    for secret in _secrets_read:
        text = text.replace(secret, "***")
    return text


def _command_path(argv: list[str]) -> str:
    """`pgrestore plan` for `plan keycloak --backup`: the command an error without a context was in."""
    command, path = typer.main.get_command(app), ["pgrestore"]
    for word in argv:
        sub = getattr(command, "commands", {}).get(word)
        if sub is None:
            break
        command, path = sub, [*path, word]
    return " ".join(path)


def _usage_line(e: Any, argv: list[str]) -> str:
    ctx = getattr(e, "ctx", None)
    path = ctx.command_path if ctx is not None else _command_path(argv)
    return f"Error: {e.format_message().rstrip('.')}; see `{path} --help`"


def main(argv: list[str] | None = None) -> int:
    return_freed_buffers()
    refusal = _refused_secret_flag(sys.argv[1:] if argv is None else argv)
    if refusal is not None:  # before anything can log or crash with the key in argv
        typer.secho(refusal, err=True, fg=typer.colors.RED)
        return UsageError.exit_code
    try:
        code = app(args=argv, prog_name="pgrestore", standalone_mode=False)
        return code if isinstance(code, int) else 0
    except PgRestoreError as e:
        typer.secho(f"Error: {e}", err=True, fg=typer.colors.RED)
        return e.exit_code
    except USAGE_ERRORS as e:
        typer.secho(_usage_line(e, sys.argv[1:] if argv is None else argv), err=True, fg=typer.colors.RED)
        return UsageError.exit_code
    except CLICK_ERRORS as e:
        typer.secho(f"Error: {e.format_message()}", err=True, fg=typer.colors.RED)  # type: ignore[attr-defined]
        return UsageError.exit_code
    except ABORTS:
        typer.echo("Interrupted; nothing more was done.", err=True)
        return 130
    except EXITS as e:
        return int(getattr(e, "exit_code", 0))
    except Exception as e:  # noqa: BLE001 - a bug: one line here, the traceback in the crash log
        log = _crash_log(e)
        typer.secho(f"Error: internal error ({type(e).__name__}); the traceback is in {log}: please report it",
                    err=True, fg=typer.colors.RED)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
