"""Artifact store (s3://, file://), model registry, termination messages. May import ``api``."""
