"""Where data and artifacts live, and the workloads that train and serve.

These are the parts of a ModelRetrainSpec that point outside the operator: the
artifact store, the training and holdout data, the training Job's pod template,
and the Deployment that serves the champion.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, ConfigDict, Field, field_validator, model_validator

from autoretrain.api.base import ApiModel, cel, cel_rules, validated
from autoretrain.api.common import DNS_LABEL_PATTERN, DnsLabel, EnvName, ObjectName
from autoretrain.api.durations import Duration, Within
from autoretrain.api.pods import PodEnv

#: No whitespace and no control character (NUL included), in ASCII terms alike in RE2
#: and pydantic: ``\S`` would differ between them.
_URI_CHAR = r"[^\x00-\x20\x7f]"
URI_PATTERN = rf"^(s3://[a-z0-9][a-z0-9.-]{{1,61}}[a-z0-9](/{_URI_CHAR}*)?|file:///{_URI_CHAR}*)$"
FOLDER_URI_PATTERN = (
    rf"^(s3://[a-z0-9][a-z0-9.-]{{1,61}}[a-z0-9]/({_URI_CHAR}*/)?|file:///({_URI_CHAR}*/)?)$"
)
#: A path segment "." or "..": a store would resolve it somewhere else than it reads.
_DOT_SEGMENT = "/[.][.]?(/|$)"
#: Dots that no S3 bucket name has: two in a row, or next to a dash.
_BAD_BUCKET = "^s3://[^/]*([.][.]|[.]-|-[.])"
_DOT_SEGMENT_MESSAGE = "must not have . or .. path segments"
_BAD_BUCKET_MESSAGE = "the bucket name must not have '..', '.-' or '-.'"
_URI_RULES = (
    cel(f"!self.matches('{_DOT_SEGMENT}')", _DOT_SEGMENT_MESSAGE),
    cel(f"!self.matches('{_BAD_BUCKET}')", _BAD_BUCKET_MESSAGE),
)


def _plain_path(uri: str) -> str:
    if re.search(_DOT_SEGMENT, uri):
        raise ValueError(_DOT_SEGMENT_MESSAGE)
    if re.search(_BAD_BUCKET, uri):
        raise ValueError(_BAD_BUCKET_MESSAGE)
    return uri


#: A data URI (file or folder) or an artifact folder URI, whole and without tricks.
DataUri = Annotated[
    str,
    Field(max_length=1024, pattern=URI_PATTERN, json_schema_extra=cel_rules(*_URI_RULES)),
    AfterValidator(_plain_path),
]
FolderUri = Annotated[
    str,
    Field(max_length=1024, pattern=FOLDER_URI_PATTERN, json_schema_extra=cel_rules(*_URI_RULES)),
    AfterValidator(_plain_path),
]


class SecretReference(ApiModel):
    """A Secret in the ModelRetrain's namespace."""

    name: ObjectName = Field(description="Name of the Secret.")


class ArtifactStore(ApiModel):
    """Where candidates, reports and the champion pointer are kept."""

    uri: FolderUri = Field(
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

    lookback: Annotated[Duration, Within("1s", "87600h")] = Field(
        description=(
            "How far back the window reaches, e.g. 720h. The trainer receives the range as "
            f"{PodEnv.DATA_WINDOW_START} and {PodEnv.DATA_WINDOW_END} (RFC 3339)."
        ),
    )


class DataSources(ApiModel):
    """Training and holdout data. The gate judges candidate and champion on the holdout."""

    model_config = validated(
        cel(
            "!self.holdout.startsWith(self.train) && !self.train.startsWith(self.holdout)",
            "holdout must not overlap train: neither may be a prefix of the other, or the gate "
            "judges on training data",
            ".holdout",
        )
    )

    train: DataUri = Field(
        description="URI of the training data (a file or a folder): s3://... or file:///...",
    )
    holdout: DataUri = Field(
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


class PassThrough(ApiModel):
    """An object of the pod template that the operator passes on as it is.

    The API server judges it when the operator creates the Job; a refusal ends
    the run Failed with the API server's message, which names the field.
    """

    model_config = ConfigDict(extra="allow")


class TemplateEnvVar(PassThrough):
    """An environment variable of a training container; value or valueFrom as in a pod."""

    name: str = Field(min_length=1, max_length=1024, description="Variable name.")


class TemplateContainer(ApiModel):
    """A container of the training pod; fields beyond these are passed through.

    The fields the operator adds to (env, envFrom, securityContext) are typed, so
    that a wrong shape is refused when the ModelRetrain is written, not when a run
    builds its Job.
    """

    model_config = ConfigDict(extra="allow")

    name: DnsLabel = Field(description="Container name (a DNS label).")
    image: str = Field(min_length=1, max_length=1024, description="Container image.")
    env: tuple[TemplateEnvVar, ...] | None = Field(
        default=None,
        max_length=256,
        description="Environment variables; the operator adds AUTORETRAIN_* after them.",
    )
    env_from: tuple[PassThrough, ...] | None = Field(
        default=None,
        max_length=64,
        description="Sources of environment variables; the artifacts Secret is added.",
    )
    security_context: PassThrough | None = Field(
        default=None,
        description="Container security context; unset fields get restricted defaults.",
    )


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
    security_context: PassThrough | None = Field(
        default=None,
        description="Pod security context; unset fields get restricted defaults.",
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


class TemplateMetadata(PassThrough):
    """Metadata of the training pod; its labels join the ones the operator sets."""

    labels: dict[str, str] | None = Field(default=None, description="Labels of the pod.")
    annotations: dict[str, str] | None = Field(default=None, description="Annotations of the pod.")


class PodTemplate(ApiModel):
    """A pod template as in a Job; fields beyond metadata and spec are passed through."""

    model_config = ConfigDict(extra="allow")

    metadata: TemplateMetadata | None = Field(
        default=None, description="Labels and annotations of the training pod."
    )
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


_TRACK_ENV_MESSAGE = (
    f"{PodEnv.TRACK} is set by the operator (canary or stable); the model variables "
    "need other names"
)


class Serving(ApiModel):
    """The Deployment that serves the champion, and how the model reaches its pods."""

    model_config = validated(
        cel(
            "self.modelUriEnv != self.modelSha256Env && "
            "self.modelUriEnv != self.modelVersionEnv && "
            "self.modelSha256Env != self.modelVersionEnv",
            "modelUriEnv, modelSha256Env and modelVersionEnv must differ",
            ".modelSha256Env",
        ),
        cel(
            "![self.modelUriEnv, self.modelSha256Env, self.modelVersionEnv]"
            f".exists(n, n == '{PodEnv.TRACK}')",
            _TRACK_ENV_MESSAGE,
        ),
    )

    deployment_ref: DeploymentReference = Field(
        description=(
            "The stable Deployment. It is patched only when a candidate is promoted; the "
            "canary runs as a copy named <name>-canary."
        ),
    )
    container: DnsLabel = Field(
        description="Name of the container in the Deployment that loads the model."
    )
    model_uri_env: EnvName = Field(
        default=PodEnv.MODEL_URI,
        description="Environment variable that receives the model's artifact URI.",
    )
    model_sha256_env: EnvName = Field(
        default=PodEnv.MODEL_SHA256,
        description="Environment variable that receives the artifact's sha256.",
    )
    model_version_env: EnvName = Field(
        default=PodEnv.MODEL_VERSION,
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
        if PodEnv.TRACK in names:
            raise ValueError(_TRACK_ENV_MESSAGE)
        return self
