"""The Kubernetes manifests, their renderer and their checks (docs/deploy.md)."""
