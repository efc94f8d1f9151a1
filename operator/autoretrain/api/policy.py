"""What a run follows: the part of a ModelRetrain's spec that each run copies when it starts.

Editing a ModelRetrain changes the next run, never the current one: a run
decides from its own copy (``ModelRetrainRun.spec.policy``), as a Job keeps the
pod template its CronJob had when it was created.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from autoretrain.api.base import ApiModel, cel, validated
from autoretrain.api.gates import OfflineGates
from autoretrain.api.monitoring import Monitoring
from autoretrain.api.online import CanaryStrategy, OnlineAnalysis
from autoretrain.api.workload import ArtifactStore, DataSources, Serving, Training


class Gates(ApiModel):
    """What a candidate must pass: offline on the holdout, then online during the canary."""

    offline: OfflineGates = Field(
        default_factory=OfflineGates,
        description=(
            "Checks on the holdout in a gate Job before any traffic. The catastrophic "
            "checks run even when this is left out."
        ),
    )
    online: OnlineAnalysis | None = Field(
        default=None,
        description="Analysis at every canary step. Needs spec.canary.",
    )
    image: str | None = Field(
        default=None,
        min_length=1,
        max_length=1024,
        description="Image of the gate runner. Defaults to the operator's own image.",
    )


POLICY_RULES = (
    cel(
        "!has(self.gates) || !has(self.gates.online) || has(self.canary)",
        "online analysis runs during the canary: set spec.canary too",
        ".gates.online",
    ),
)


class RunPolicy(ApiModel):
    """Where artifacts go, the data, the training Job, the gates, serving and the canary."""

    model_config = validated(*POLICY_RULES)

    artifacts: ArtifactStore = Field(description="Artifact store of versions and the champion.")
    data: DataSources = Field(description="Training and holdout data.")
    training: Training = Field(description="The training Job.")
    gates: Gates = Field(
        default_factory=Gates,
        description="Offline and online gates. Absent: only the catastrophic checks run.",
    )
    serving: Serving = Field(description="The Deployment that serves the champion.")
    canary: CanaryStrategy | None = Field(
        default=None,
        description=(
            "Progressive canary after the offline gate. Absent: a candidate that passes "
            "the offline gate is promoted directly."
        ),
    )
    monitoring: Monitoring | None = Field(
        default=None,
        description="Live traffic after promotion. Absent: predictions are not logged.",
    )

    @model_validator(mode="after")
    def _online_needs_canary(self) -> Self:
        if self.gates.online is not None and self.canary is None:
            raise ValueError("online analysis runs during the canary: set spec.canary too")
        return self

    @classmethod
    def of(cls, spec: RunPolicy) -> RunPolicy:
        """The policy alone, without what a subclass (the ModelRetrain's spec) adds."""
        return cls.model_validate({name: getattr(spec, name) for name in cls.model_fields})
