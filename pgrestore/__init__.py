"""pgrestore: Terraform-style plan/apply restores of Zalando postgres-operator clusters from backups."""

__version__ = "0.2.0"  # the one place it is written (pyproject.toml reads it)

__all__ = ["__version__"]
