"""Where data and artifacts live, and the workloads that train and serve.

These are the parts of a ModelRetrainSpec that point outside the operator: the
artifact store, the training and holdout data, the training Job's pod template,
and the Deployment that serves the champion.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import ConfigDict, Field, field_validator, model_validator

from autoretrain.api.analysis import DURATION_PATTERN
from autoretrain.api.base import ApiModel
from autoretrain.api.common import DNS_LABEL_PATTERN, ENV_NAME_PATTERN, ObjectName

#: No whitespace; spelled out because \S differs between RE2 (ASCII) and pydantic (Unicode).
_NO_SPACE = r"[^ \t\n\r\f\v]"
URI_PATTERN = rf"^(s3://[a-z0-9][a-z0-9.-]{{1,61}}[a-z0-9](/{_NO_SPACE}*)?|file:///{_NO_SPACE}*)$"
FOLDER_URI_PATTERN = (
    rf"^(s3://[a-z0-9][a-z0-9.-]{{1,61}}[a-z0-9]/({_NO_SPACE}*/)?|file:///({_NO_SPACE}*/)?)$"
)


class SecretReference(ApiModel):
    """A Secret in the ModelRetrain's namespace."""

    name: ObjectName = Field(description="Name of the Secret.")


class ArtifactStore(ApiModel):
    """Where candidates, reports and the champion pointer are kept."""

    uri: str = Field(
        max_length=1024,
        pattern=FOLDER_URI_PATTERN,
        description=(
            "Folder URI ending in '/': s3://bucket/prefix/ or file:///absolute/path/. "
            "Versions go to versions/<run>/ (model.skops, metadata.json, gate-report.json), "
            "the champion pointer to champion/."
        ),
    )
    secret_ref: SecretReference | None = Field(
        default=None,
        description=(
            "Secret whose AWS_* keys (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
            "AWS_ENDPOINT_URL, AWS_DEFAULT_REGION, ...) become the environment of the "
            "training, gate and serving pods."
        ),
    )


class DataWindow(ApiModel):
    """The time range of data a run trains on, ending at the run's scheduled time."""

    lookback: str = Field(
        max_length=32,
        pattern=DURATION_PATTERN,
        description=(
            "How far back the window reaches, e.g. 720h. The trainer receives the range as "
            "AUTORETRAIN_DATA_WINDOW_START and AUTORETRAIN_DATA_WINDOW_END (RFC 3339)."
        ),
    )


class DataSources(ApiModel):
    """Training and holdout data. The gate judges candidate and champion on the holdout."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!self.holdout.startsWith(self.train) && "
                    "!self.train.startsWith(self.holdout)",
                    "message": "holdout must not overlap train: neither may be a prefix of the "
                    "other, or the gate judges on training data",
                    "fieldPath": ".holdout",
                }
            ]
        }
    )

    train: str = Field(
        max_length=1024,
        pattern=URI_PATTERN,
        description="URI of the training data (a file or a folder): s3://... or file:///...",
    )
    holdout: str = Field(
        max_length=1024,
        pattern=URI_PATTERN,
        description=(
            "URI of the labelled holdout data, never trained on. It must not overlap train."
        ),
    )
    window: DataWindow | None = Field(
        default=None, description="Restrict training to a trailing time window."
    )

    @model_validator(mode="after")
    def _no_leakage(self) -> Self:
        if self.holdout.startswith(self.train) or self.train.startswith(self.holdout):
            raise ValueError("holdout must not overlap train")
        return self


class TemplateContainer(ApiModel):
    """A container of the training pod; fields beyond name and image are passed through."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(
        max_length=63, pattern=DNS_LABEL_PATTERN, description="Container name (a DNS label)."
    )
    image: str = Field(min_length=1, max_length=1024, description="Container image.")


class TemplatePodSpec(ApiModel):
    """The pod spec of the training Job; fields beyond these are passed through."""

    model_config = ConfigDict(extra="allow")

    containers: tuple[TemplateContainer, ...] = Field(
        min_length=1,
        max_length=16,
        description="The containers; the operator adds the AUTORETRAIN_* environment to them.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
        },
    )
    restart_policy: Literal["Never", "OnFailure"] | None = Field(
        default=None,
        description="Never (the default for training Jobs) or OnFailure.",
    )

    @field_validator("containers")
    @classmethod
    def _unique_names(
        cls, containers: tuple[TemplateContainer, ...]
    ) -> tuple[TemplateContainer, ...]:
        names = [c.name for c in containers]
        if len(names) != len(set(names)):
            raise ValueError("container names must be unique")
        return containers


class PodTemplate(ApiModel):
    """A pod template as in a Job; metadata and other fields are passed through."""

    model_config = ConfigDict(extra="allow")

    spec: TemplatePodSpec = Field(description="Specification of the training pod.")


class Training(ApiModel):
    """How a candidate is trained: a Job per run, from this template."""

    template: PodTemplate = Field(
        description=(
            "Pod template of the training Job. Any image works: it reads its inputs from "
            "the injected AUTORETRAIN_* environment and reports through its termination "
            "message."
        ),
    )
    backoff_limit: int = Field(
        default=1, ge=0, le=10, description="Retries of the training pod before the run fails."
    )
    active_deadline_seconds: int = Field(
        default=3600,
        ge=1,
        le=7 * 24 * 3600,
        description="Deadline of the training Job; the run fails when it passes.",
    )


class DeploymentReference(ApiModel):
    """A Deployment in the ModelRetrain's namespace."""

    name: str = Field(
        max_length=56,
        pattern=DNS_LABEL_PATTERN,
        description=(
            "Name of the Deployment (a DNS label of at most 56 characters, so that its "
            "canary <name>-canary is one too)."
        ),
    )


class Serving(ApiModel):
    """The Deployment that serves the champion, and how the model reaches its pods."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.modelUriEnv != self.modelSha256Env && "
                    "self.modelUriEnv != self.modelVersionEnv && "
                    "self.modelSha256Env != self.modelVersionEnv",
                    "message": "modelUriEnv, modelSha256Env and modelVersionEnv must differ",
                    "fieldPath": ".modelSha256Env",
                }
            ]
        }
    )

    deployment_ref: DeploymentReference = Field(
        description=(
            "The stable Deployment. It is patched only when a candidate is promoted; the "
            "canary runs as a copy named <name>-canary."
        ),
    )
    container: str = Field(
        max_length=63,
        pattern=DNS_LABEL_PATTERN,
        description="Name of the container in the Deployment that loads the model.",
    )
    model_uri_env: str = Field(
        default="AUTORETRAIN_MODEL_URI",
        max_length=128,
        pattern=ENV_NAME_PATTERN,
        description="Environment variable that receives the model's artifact URI.",
    )
    model_sha256_env: str = Field(
        default="AUTORETRAIN_MODEL_SHA256",
        max_length=128,
        pattern=ENV_NAME_PATTERN,
        description="Environment variable that receives the artifact's sha256.",
    )
    model_version_env: str = Field(
        default="AUTORETRAIN_MODEL_VERSION",
        max_length=128,
        pattern=ENV_NAME_PATTERN,
        description="Environment variable that receives the model's version.",
    )
    rollout_timeout_seconds: int = Field(
        default=600,
        ge=10,
        le=24 * 3600,
        description=(
            "How long the promoted stable rollout may take to become available before the "
            "previous model is restored. The canary Deployment inherits the stable one's "
            "progressDeadlineSeconds instead."
        ),
    )

    @model_validator(mode="after")
    def _distinct_env(self) -> Self:
        names = {self.model_uri_env, self.model_sha256_env, self.model_version_env}
        if len(names) != 3:
            raise ValueError("modelUriEnv, modelSha256Env and modelVersionEnv must differ")
        return self
