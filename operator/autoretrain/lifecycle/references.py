"""What a policy names outside itself, and what a missing one means.

A ModelRetrain names three objects in its namespace: the serving Deployment, the
model container in it, and the artifacts Secret. The handlers look them up; this
module decides:

- On the ModelRetrain, the ``ReferencesResolved`` condition says which one is
  missing (False), all are there (True), or one could not be read (Unknown:
  the operator may not read Secrets), with a Warning Event when that is news.
- Runs still start when due, so no trigger or tick is swallowed and the run's
  history says what happened; but a run whose Deployment or container is missing
  ends Failed in Pending, naming it, before anything trains. A missing Secret
  fails it there too, through the artifact store (``CredentialsError``).
"""

from __future__ import annotations

from dataclasses import dataclass

from autoretrain.api.policy import RunPolicy
from autoretrain.lifecycle.causes import Cause
from autoretrain.lifecycle.observed import DeploymentState

REFERENCES_CONDITION = "ReferencesResolved"
SECRET_MISSING = "ArtifactsSecretMissing"  # noqa: S105 (a condition reason)


@dataclass(frozen=True)
class References:
    """What the handlers found of the objects a policy names; None where unknown."""

    deployment: bool | None
    containers: tuple[str, ...] = ()
    """The container names of the Deployment's pod template, when it was found."""
    secret: bool | None = None
    """None too when the policy names no Secret."""


@dataclass(frozen=True)
class Missing(Cause):
    """A named object that is not there; the message says which and where it is named."""


def _deployment_missing(spec: RunPolicy) -> Missing:
    name = spec.serving.deployment_ref.name
    return Missing(
        "ServingDeploymentMissing",
        f"Deployment {name} named by spec.serving.deploymentRef does not exist",
    )


def _container_missing(spec: RunPolicy, containers: tuple[str, ...]) -> Missing:
    name = spec.serving.deployment_ref.name
    return Missing(
        "ServingContainerMissing",
        f"Deployment {name} has no container {spec.serving.container} (spec.serving.container);"
        f" it has {', '.join(containers) or 'none'}",
    )


def missing(spec: RunPolicy, found: References) -> Missing | None:
    """The first reference that is not there, or None (see tests/unit/test_references.py)."""
    if found.deployment is False:
        return _deployment_missing(spec)
    if found.deployment and spec.serving.container not in found.containers:
        return _container_missing(spec, found.containers)
    secret = spec.artifacts.secret_ref
    if found.secret is False and secret is not None:
        return Missing(
            SECRET_MISSING,
            f"Secret {secret.name} named by spec.artifacts.secretRef does not exist",
        )
    return None


def unknown(spec: RunPolicy, found: References) -> str | None:
    """What could not be read, when nothing is known to be missing."""
    unread = []
    if found.deployment is None:
        unread.append(f"Deployment {spec.serving.deployment_ref.name}")
    if found.secret is None and spec.artifacts.secret_ref is not None:
        unread.append(f"Secret {spec.artifacts.secret_ref.name}")
    return f"could not read {' and '.join(unread)}" if unread else None


def missing_for_run(spec: RunPolicy, serving: DeploymentState | None) -> Missing | None:
    """What keeps a run from starting: its serving Deployment or container is not there."""
    if serving is None:
        return _deployment_missing(spec)
    if serving.containers is not None and spec.serving.container not in serving.containers:
        return _container_missing(spec, serving.containers)
    return None
