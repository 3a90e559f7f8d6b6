"""Per-service restore definitions, as data (one YAML file per service)."""
