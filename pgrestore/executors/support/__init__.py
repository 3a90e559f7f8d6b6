"""What several step kinds share (writing artifacts, manifests, members, volumes, the cluster this apply
creates); the step modules themselves never import each other (.importlinter)."""
