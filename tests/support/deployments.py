"""Deployment manifests as the tests write them: pods labelled app=<app>, selected by it."""

from __future__ import annotations

from typing import Any


def deployment(
    name: str, app: str, containers: list[dict[str, Any]], replicas: int, **metadata: Any
) -> dict[str, Any]:
    """A Deployment ``name`` of ``replicas`` pods running ``containers``; ``metadata`` adds to
    its own metadata (namespace, labels)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, **metadata},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": app}},
            "template": {"metadata": {"labels": {"app": app}}, "spec": {"containers": containers}},
        },
    }
