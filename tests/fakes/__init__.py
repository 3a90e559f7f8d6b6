"""In-memory fakes of our adapters (Kubernetes, S3): the engine's rehearsal stage for the fast tests."""
