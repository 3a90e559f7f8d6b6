"""The one exception hierarchy. Only the CLI maps these to exit codes.

Every message is one line that names the thing and says what to do. None may carry a
secret value.
"""

from __future__ import annotations


class PgRestoreError(Exception):
    """Base of every error pgrestore reports to a user as one line."""

    exit_code = 1


class UsageError(PgRestoreError):
    """The user asked for something that cannot be done as asked."""


class KubernetesError(PgRestoreError):
    """The Kubernetes API refused or failed a request."""


class NotFound(KubernetesError):
    """A Kubernetes object that should exist does not."""


class Conflict(KubernetesError):
    """The object already exists, or changed since it was read (HTTP 409)."""


class S3Error(PgRestoreError):
    """The S3 endpoint refused or failed a request."""


class PsqlError(PgRestoreError):
    """psql (local or in a pod) failed."""


class BackupError(PgRestoreError):
    """The chosen backup is missing, incomplete or unreadable."""


class SandboxError(PgRestoreError):
    """A part of the rehearsal sandbox failed to start or answer."""


class PlanRejected(PgRestoreError):
    """The plan is invalid, edited, for another cluster, or stale: re-plan."""

    exit_code = 3


class LockHeld(PgRestoreError):
    """Another apply holds the service's lock."""

    exit_code = 4


class StepFailed(PgRestoreError):
    """A step failed during apply (wrapped by the engine into the two below)."""


class ApplyFailedRolledBack(PgRestoreError):
    """Apply failed; the scale settings were put back."""

    exit_code = 5


class ApplyFailedRollbackIncomplete(PgRestoreError):
    """Apply failed and rollback could not put everything back."""

    exit_code = 6
