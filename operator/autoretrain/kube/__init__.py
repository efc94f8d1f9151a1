"""Manifests of a run's children (pure) and the Kubernetes client seam. May import ``api``."""
