"""The `pgrestore` command line. The only place that maps errors to exit codes."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path

import typer

from . import __version__
from .errors import PgRestoreError, UsageError

app = typer.Typer(
    name="pgrestore",
    help="Plan, review and apply restores of postgres-operator clusters from backups.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals can hold secrets
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """pgrestore: Terraform-style plan/apply restores for CSM Postgres clusters."""


KubeconfigOpt = typer.Option(None, "--kubeconfig", envvar="KUBECONFIG", help="kubeconfig to use.")
S3EndpointOpt = typer.Option(None, "--s3-endpoint", envvar="PGRESTORE_S3_ENDPOINT",
                             help="S3 endpoint; default: from the postgres-backup-s3-credentials secret.")
S3AccessOpt = typer.Option(None, "--s3-access-key", envvar="PGRESTORE_S3_ACCESS_KEY", help="S3 access key.")
S3SecretOpt = typer.Option(None, "--s3-secret-key", envvar="PGRESTORE_S3_SECRET_KEY", help="S3 secret key.")


def _s3_opts(endpoint, access, secret) -> dict:
    return {"s3_endpoint": endpoint, "s3_access_key": access, "s3_secret_key": secret}


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
def backups(service: str, kubeconfig: str = KubeconfigOpt, s3_endpoint: str = S3EndpointOpt,
            s3_access_key: str = S3AccessOpt, s3_secret_key: str = S3SecretOpt) -> None:
    """List SERVICE's backups in S3 (both formats), newest first."""
    from .commands.listing import backups_table
    typer.echo(backups_table(service, kubeconfig, _s3_opts(s3_endpoint, s3_access_key, s3_secret_key)), nl=False)


@app.command()
def plan(
    service: str,
    backup: str = typer.Option("latest", "--backup", help="latest, or the S3 key of a .psql or .sql.gz."),
    dump: Path = typer.Option(None, "--dump", help="Restore a local dump file instead of an S3 backup."),
    manifest: Path = typer.Option(None, "--manifest", help="The .manifest beside --dump, if any."),
    secrets: str = typer.Option(None, "--secrets", help="from-manifest or alter-users (default: from-manifest "
                                                        "when the backup has a manifest)."),
    output: Path = typer.Option(None, "-o", "--output", help="Write the plan here instead of stdout."),
    detailed_exitcode: bool = typer.Option(False, "--detailed-exitcode",
                                           help="Exit 0 with no changes, 1 on error, 2 with changes."),
    kubeconfig: str = KubeconfigOpt, s3_endpoint: str = S3EndpointOpt, s3_access_key: str = S3AccessOpt,
    s3_secret_key: str = S3SecretOpt,
) -> None:
    """Write a restore plan for SERVICE (JSON on stdout, summary on stderr). Changes nothing."""
    from .commands.plan import run
    if manifest is not None and dump is None:
        raise UsageError("--manifest goes with --dump")
    code = run(service, backup, dump, manifest, secrets, output, detailed_exitcode, kubeconfig,
               _s3_opts(s3_endpoint, s3_access_key, s3_secret_key))
    raise typer.Exit(code)


class ShowFormat(str, Enum):
    text = "text"
    markdown = "markdown"


@app.command()
def show(plan_file: Path, format: ShowFormat = typer.Option(ShowFormat.text, "--format")) -> None:
    """Render a plan for review: backup, changes, destructive steps, rollback, checksum."""
    from . import plan as plan_doc
    from . import show as render
    loaded = plan_doc.load(plan_file)
    typer.echo(render.as_text(loaded) if format == ShowFormat.text else render.as_markdown(loaded), nl=False)


@app.command()
def apply(
    plan_file: Path,
    auto_approve: bool = typer.Option(False, "--auto-approve", help="Do not ask; required without a terminal."),
    resume: bool = typer.Option(False, "--resume", help="Continue after the last finished step of this plan."),
    json_events: bool = typer.Option(False, "--json", help="One JSON event per line on stdout."),
    kubeconfig: str = KubeconfigOpt, s3_endpoint: str = S3EndpointOpt, s3_access_key: str = S3AccessOpt,
    s3_secret_key: str = S3SecretOpt,
) -> None:
    """Carry out a reviewed plan: refuse stale plans, lock, checkpoint every step, roll back on failure."""
    from .commands.apply import apply as do_apply
    do_apply(plan_file, auto_approve, resume, json_events, kubeconfig,
             _s3_opts(s3_endpoint, s3_access_key, s3_secret_key))


@app.command()
def rollback(plan_file: Path, kubeconfig: str = KubeconfigOpt,
             json_events: bool = typer.Option(False, "--json", help="One JSON event per line on stdout.")) -> None:
    """Put back the scale settings a plan recorded (resource, numberOfInstances, client replicas)."""
    from .commands.apply import rollback as do_rollback
    do_rollback(plan_file, kubeconfig, json_events)


@app.command("force-unlock")
def force_unlock(service: str, lock_id: str, kubeconfig: str = KubeconfigOpt) -> None:
    """Remove SERVICE's apply lock, by the lock id a refused apply printed."""
    from .commands.apply import unlock
    unlock(service, lock_id, kubeconfig)


def _attach_sandbox() -> None:
    try:
        from sandbox.cli import app as sandbox_app
    except ImportError:  # the sandbox extra is not installed
        return
    app.add_typer(sandbox_app, name="sandbox")


_attach_sandbox()


def main(argv: list[str] | None = None) -> int:
    try:
        code = app(args=argv, prog_name="pgrestore", standalone_mode=False)
        return code if isinstance(code, int) else 0
    except PgRestoreError as e:
        typer.secho(f"Error: {e}", err=True, fg=typer.colors.RED)
        return e.exit_code
    except typer.Abort:
        typer.echo("Aborted.", err=True)
        return 130
    except typer.Exit as e:
        return e.exit_code
    except SystemExit as e:  # click's usage errors already printed their message
        return e.code if isinstance(e.code, int) else 1
    except Exception as e:  # click.ClickException and friends
        from click.exceptions import ClickException
        if isinstance(e, ClickException):
            e.show()
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
