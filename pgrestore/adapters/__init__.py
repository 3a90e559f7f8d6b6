"""One adapter each for Kubernetes, S3 and psql; each turns library errors into ours."""
