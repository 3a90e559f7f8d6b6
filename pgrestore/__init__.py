"""pgrestore: Terraform-style plan/apply restores of postgres-operator clusters (the CLI on top)."""

from core import __version__

__all__ = ["__version__"]
