"""The sandbox's own error, in pgrestore's hierarchy so that `pgrestore sandbox …` reports it in one line."""

from pgrestore.errors import PgRestoreError


class SandboxError(PgRestoreError):
    """A part of the rehearsal sandbox failed to start or answer."""
