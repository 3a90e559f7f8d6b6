"""A fault-injecting reverse proxy for the Kubernetes API server and S3 (loopback only)."""
