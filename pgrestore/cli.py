"""The `pgrestore` command line. The only place that maps errors to exit codes."""

from __future__ import annotations

import sys

import typer

from . import __version__
from .errors import PgRestoreError

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


@app.command()
def version() -> None:
    """Print pgrestore's version."""
    typer.echo(__version__)


def _attach_sandbox() -> None:
    try:
        from sandbox.cli import app as sandbox_app
    except ImportError:  # the sandbox extra is not installed
        return
    app.add_typer(sandbox_app, name="sandbox")


_attach_sandbox()


def main(argv: list[str] | None = None) -> int:
    try:
        app(args=argv, prog_name="pgrestore", standalone_mode=False)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
