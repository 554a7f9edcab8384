"""Deployment files: the container entry point and the Kubernetes manifests."""
