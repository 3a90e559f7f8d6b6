"""The one exception hierarchy. Only the CLI maps these to exit codes."""

from __future__ import annotations


class PgRestoreError(Exception):
    """Base of every error pgrestore reports to a user as one line."""

    exit_code = 1


class UsageError(PgRestoreError):
    """The user asked for something that cannot be done as asked."""


class KubernetesError(PgRestoreError):
    """The Kubernetes API refused or failed a request."""


class S3Error(PgRestoreError):
    """The S3 endpoint refused or failed a request."""


class PsqlError(PgRestoreError):
    """psql (local or in a pod) failed."""


class SandboxError(PgRestoreError):
    """A part of the rehearsal sandbox failed to start or answer."""
