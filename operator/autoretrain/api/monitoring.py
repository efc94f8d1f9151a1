"""``spec.monitoring``: what the operator keeps of live traffic after promotion.

The serving pods log every prediction with its inputs, so labels that arrive
later can be joined with what each model version answered.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from autoretrain.api.base import ApiModel
from autoretrain.api.durations import Duration, Within
from autoretrain.api.pods import PodEnv
from autoretrain.api.workload import FolderUri


class PredictionLog(ApiModel):
    """Where the serving pods write their prediction log (docs/prediction-log.md)."""

    uri: FolderUri = Field(
        description=(
            "Folder URI ending in '/': s3://bucket/prefix/ or file:///absolute/path/. "
            "Batches go to model=<name>/version=<version>/date=<day>/ as Parquet. The "
            f"stable and canary serving containers receive it as {PodEnv.PREDICTION_LOG_URI}, "
            "and write with the credentials they load models with."
        ),
    )
    flush_interval: Annotated[Duration, Within("1s", "1h")] = Field(
        default="10s",
        description=(
            "Longest time a prediction waits in a pod before its batch is written "
            f"({PodEnv.PREDICTION_LOG_FLUSH_INTERVAL})."
        ),
    )


class Monitoring(ApiModel):
    """Live traffic after promotion."""

    prediction_log: PredictionLog = Field(
        description="The log of every prediction the serving pods answer."
    )
