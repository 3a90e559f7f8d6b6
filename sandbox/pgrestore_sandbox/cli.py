"""`pgrestore sandbox …`: bring the rehearsal cluster up and down, back it up, break it."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path

import typer

from .paths import StateDir, default_state_dir

app = typer.Typer(help="The rehearsal sandbox: a CSM-like cluster on this machine.",
                  no_args_is_help=True, pretty_exceptions_show_locals=False)

StateOpt = typer.Option(None, "--state-dir", envvar="PGRESTORE_SANDBOX_DIR",
                        help="Where the sandbox keeps its state.")


class ExecProtocol(str, Enum):
    auto = "auto"
    v4 = "v4"


class TimingProfile(str, Enum):
    fast = "fast"
    realistic = "realistic"


class Format(str, Enum):
    psql = "psql"
    logical = "logical"


class How(str, Enum):
    drop_table = "drop-table"
    truncate = "truncate"
    delete_cluster = "delete-cluster"


def _state(path: Path | None) -> StateDir:
    return StateDir(path or default_state_dir())


@app.command()
def up(state_dir: Path = StateOpt,
       exec_protocol: ExecProtocol = typer.Option(
           ExecProtocol.auto, help="v4 makes exec behave like a CSM kubelet (< 1.30): stdin cannot be closed."),
       timing: TimingProfile | None = typer.Option(
           None, "--timing", help="fast (default): everything instant. realistic: pod shutdown grace, replica "
                                  "clone time by database size, volume release before a re-created pod 0 starts."),
       resync_seconds: float | None = typer.Option(
           None, "--resync-seconds", min=1, help="The operator's periodic Sync (default 60; CSM uses 300)."),
       held_sessions: bool | None = typer.Option(
           None, "--held-sessions/--no-held-sessions",
           help="Hold Patroni's session in `postgres` and the exporter's in every database (default on)."),
       create_timeout: float | None = typer.Option(
           None, "--create-timeout", min=1, help="Seconds before a new cluster is CreateFailed (default 120)."),
       scheduled_backups: bool | None = typer.Option(
           None, "--scheduled-backups/--no-scheduled-backups",
           help="Backup CronJobs back up when they fire on their CSM schedules (default on); "
                "off: scheduled runs do nothing, manual runs (backup-job) still back up."),
       ) -> None:
    """Start (or confirm) every part of the sandbox and seed the CSM services.

    Settings not given keep their stored values; given ones apply at once, also to a running sandbox.
    """
    from .lifecycle import up as do_up
    state = _state(state_dir)
    report = do_up(state, exec_protocol.value, timing=timing.value if timing else None,
                   resync_seconds=resync_seconds, held_sessions=held_sessions,
                   create_timeout_seconds=create_timeout, scheduled_backups=scheduled_backups)
    for part, outcome, seconds in report.parts:
        typer.echo(f"{part:<26} {outcome:<40} {seconds:6.1f}s")
    typer.echo(f"{'total':<26} {'':<40} {sum(s for *_, s in report.parts):6.1f}s")
    typer.echo(f"export KUBECONFIG={state.kubeconfig}")


@app.command()
def down(state_dir: Path = StateOpt,
         wipe: bool = typer.Option(False, "--wipe", help="Also delete the state folder (data, certs, logs).")) -> None:
    """Stop exactly the processes `up` started."""
    from .lifecycle import down as do_down
    stopped = do_down(_state(state_dir), wipe)
    typer.echo("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@app.command()
def status(state_dir: Path = StateOpt) -> None:
    """Show the sandbox's processes and database servers."""
    from .lifecycle import status as do_status
    typer.echo(json.dumps(do_status(_state(state_dir)), indent=2))


@app.command()
def env(state_dir: Path = StateOpt) -> None:
    """Print shell exports for using the sandbox (eval "$(pgrestore sandbox env)")."""
    state = _state(state_dir)
    typer.echo(f"export KUBECONFIG={state.kubeconfig}")
    typer.echo(f"export PGRESTORE_SANDBOX_DIR={state.root}")
    typer.echo(f'export PATH={state.root / "bin"}:"$PATH"  # the management nodes\' pdsh (sandbox/hosts.py)')


@app.command()
def backup(service: str, state_dir: Path = StateOpt,
           format: Format = typer.Option(Format.psql, "--format",
                                         help="psql: CSM ≤ 1.4 .psql + .manifest; logical: CSM ≥ 1.5 spilo/…/*.sql.gz")
           ) -> None:
    """Write what CSM's backup job writes for SERVICE into the sandbox's S3."""
    from .backup import backup as do_backup
    for key, size in do_backup(_state(state_dir), service, format.value):
        typer.echo(f"s3://postgres-backup/{key}  {size} bytes")


@app.command(name="backup-job")
def backup_job(service: str, state_dir: Path = StateOpt,
               format: Format = typer.Option(Format.psql, "--format",
                                             help="psql: the chart's <fullname>-postgresql-db-backup (CSM ≤ 1.4); "
                                                  "logical: the operator's logical-backup-<cluster> (CSM ≥ 1.5)"),
               no_wait: bool = typer.Option(False, "--no-wait", help="Return once the Job is created."),
               timeout: float = typer.Option(900.0, "--timeout", min=1,
                                             help="Seconds to wait for the Job (a failing one retries 6 times).")
               ) -> None:
    """Run SERVICE's backup CronJob now (as `kubectl create job --from=cronjob/…`, so also when it is
    suspended), wait for its Job, and print the S3 keys it wrote and deleted."""
    from .drills import backup_job as do_backup_job
    from .errors import SandboxError
    run = do_backup_job(_state(state_dir), service, format.value, wait=not no_wait, timeout=timeout,
                        progress=typer.echo)
    if no_wait:
        return
    for key, size in run.written:
        typer.echo(f"written: s3://postgres-backup/{key}  {size} bytes")
    for key in run.deleted:
        typer.echo(f"deleted: s3://postgres-backup/{key}")
    if run.status == "Complete":
        typer.echo(f"job {run.job} complete after {run.seconds:.1f}s")
        return
    what = "failed (backoffLimit reached)" if run.status == "Failed" else f"still running after {run.seconds:.0f}s"
    raise SandboxError(f"job {run.namespace}/{run.job} {what}; {len(run.pods)} pod(s) ended: "
                       f"kubectl -n {run.namespace} logs -l job-name={run.job}")


@app.command(name="break")
def break_(service: str, how: How = typer.Option(..., "--how", help="The disaster to create."),
           state_dir: Path = StateOpt) -> None:
    """Create a disaster in SERVICE's database to rehearse a restore."""
    from .drills import break_service
    typer.echo(break_service(_state(state_dir), service, how.value))


@app.command()
def grow(service: str, mb: int = typer.Option(..., "--mb", help="About how many MiB of rows to add."),
         state_dir: Path = StateOpt) -> None:
    """Make SERVICE's database large (for benchmarks): adds ~MB MiB of rows."""
    from .drills import grow as do_grow
    typer.echo(do_grow(_state(state_dir), service, mb))


@app.command()
def failover(service: str,
             to: str | None = typer.Option(None, "--to", help="The member to lead (default: a healthy replica)."),
             state_dir: Path = StateOpt) -> None:
    """Move SERVICE's Patroni leader to another member (as `patronictl failover`): the server restarts."""
    from . import commands
    from .services import get_service
    svc = get_service(service)
    typer.echo(commands.submit(_state(state_dir), "failover",
                               {"namespace": svc.namespace, "cluster": svc.cluster, "to": to}))
