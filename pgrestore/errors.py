"""The one exception hierarchy. Only the CLI maps these to exit codes.

Every message is one line that names the thing and says what to do. None may carry a
secret value.

Exit codes (README, "Exit codes"); none but `plan --detailed-exitcode` uses 2:

| code | meaning |
|---|---|
| 0 | done (plan: no changes) |
| 1 | an error before any change (the cluster or S3 refused or failed a request) |
| 2 | `plan --detailed-exitcode`: the plan has changes |
| 3 | the plan is stale, edited, for another cluster or malformed; or its journal is bad or another plan's |
| 4 | another apply holds the lock |
| 5 | apply failed and was rolled back: the service is as it was before apply, data included |
| 6 | apply failed and the rollback is incomplete, or the data is not back: the message says what is left to do |
| 7 | apply stopped at a manual step: run the command it printed, then `apply --resume --confirm STEP` |
| 8 | the restore is kept (data restored and verified, client back), then a later step failed: `apply --resume` |
| 64 | usage: a command, option (or its value) or argument is wrong |
| 65 | the backup, dump or manifest is unusable |
| 69 | the API server or S3 cannot be reached |
| 70 | internal error: a crash log holds the traceback |
| 77 | permission: the kubeconfig's user lacks a verb on a resource plan or apply needs (the message names each) |
| 78 | configuration: kubeconfig, its context, a service definition or the S3 credentials secret is wrong |
| 130 | interrupted before any change |
"""

from __future__ import annotations


class PgRestoreError(Exception):
    """Base of every error pgrestore reports to a user as one line."""

    exit_code = 1


class UsageError(PgRestoreError):
    """The user asked for something that cannot be done as asked."""

    exit_code = 64


class Declined(PgRestoreError):
    """The operator did not approve the plan; nothing changed."""


class ConfigError(PgRestoreError):
    """The kubeconfig, a context or a service definition is unusable."""

    exit_code = 78


class KubernetesError(PgRestoreError):
    """The Kubernetes API refused or failed a request."""


class Unreachable(KubernetesError):
    """The API server (or S3) could not be reached at all."""

    exit_code = 69


class NotFound(KubernetesError):
    """A Kubernetes object that should exist does not."""


class Conflict(KubernetesError):
    """The object already exists, or changed since it was read (HTTP 409)."""


class S3Error(PgRestoreError):
    """The S3 endpoint refused or failed a request."""


class S3NotFound(S3Error):
    """The object (or bucket) does not exist."""


class PsqlError(PgRestoreError):
    """psql (local or in a pod) failed."""


class BackupError(PgRestoreError):
    """The chosen backup is missing, incomplete or unreadable."""

    exit_code = 65


class PlanRejected(PgRestoreError):
    """The plan is invalid, edited, for another cluster, or stale: re-plan."""

    exit_code = 3


class LockHeld(PgRestoreError):
    """Another apply holds the service's lock."""

    exit_code = 4


class StepFailed(PgRestoreError):
    """A step failed during apply (wrapped by the engine into the two below). `observed`: what the
    step saw before it failed, kept in the journal for the operator (e.g. each error psql printed)."""

    def __init__(self, message: str, observed: dict | None = None) -> None:
        super().__init__(message)
        self.observed = observed


class StepTimeout(StepFailed):
    """A step ran past its deadline: a wait, or an exec stream that hung."""


class Cancelled(StepFailed):
    """`pgrestore cancel` asked the running apply to stop before its next step (then it rolls back)."""


class JobEnded(PgRestoreError):
    """An in-cluster apply's Job ended other than done: the exit code is its pod's (the apply's own),
    or 1 when its pod was gone before it could say."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class ApplyEnded(PgRestoreError):
    """An apply that ended other than restored: `outcome` says how, as data (executors/outcome.py), and
    the message is its sentence."""

    def __init__(self, message: str, outcome: object = None) -> None:
        super().__init__(message)
        self.outcome = outcome


class ApplyFailedRolledBack(ApplyEnded):
    """Apply failed; the rollback put things back."""

    exit_code = 5


class ApplyFailedRollbackIncomplete(ApplyEnded):
    """Apply failed and rollback could not put everything back."""

    exit_code = 6


class RestoreKept(ApplyEnded):
    """A step after the restore was kept failed (the client was back on the restored, verified data):
    nothing rolled back; what is left is named, and `apply --resume` finishes it."""

    exit_code = 8


class AwaitingOperator(PgRestoreError):
    """apply reached a manual step: it stopped (lock released, journal `waiting`) until the operator
    has run the printed command and confirms it with `apply --resume --confirm STEP`."""

    exit_code = 7

    def __init__(self, message: str, step_id: str):
        super().__init__(message)
        self.step_id = step_id


class PermissionDenied(PgRestoreError):
    """The kubeconfig's user may not do what plan or apply needs (RBAC); nothing changed."""

    exit_code = 77


class Interrupted(PgRestoreError):
    """Ctrl-C or SIGTERM before anything changed."""

    exit_code = 130


EXIT_INTERNAL = 70
