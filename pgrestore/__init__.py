"""pgrestore: Terraform-style plan/apply restores of postgres-operator clusters."""

__version__ = "0.1.0"
