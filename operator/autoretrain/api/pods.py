"""The pod contract: what the operator gives its pods, and what they report back.

Both sides read it from here: the operator when it builds the training, gate
and canary manifests, and the reference trainer, gate runner and model server
(and users' own trainers and custom checks) when they start and when they end.

- ``PodEnv`` names the environment variables; ``TRAINING_ENV``, ``GATE_ENV``,
  ``BACKTEST_ENV`` and ``SERVING_ENV`` say which of them each pod reads.
- The artifact layout: a version lives in ``<artifacts uri>/versions/<version>/``
  (``version_folder_uri``) as ``model.skops``, ``metadata.json`` and the gate's
  ``gate-report.json``.
- The reports a pod writes to its termination message: ``TrainingReport``,
  ``GateVerdictMessage``, ``BacktestMessage``, and ``FailureReport`` when it
  could not do its job.
  ``PodReport.to_termination_message`` encodes them within Kubernetes' 4096
  bytes; ``PodReport.from_termination_message`` parses them.

Nothing here does I/O; ``autoretrain.store.termination`` writes the file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Final, Self

from pydantic import ConfigDict, Field, ValidationError, field_validator

from autoretrain.api.base import ApiModel
from autoretrain.api.common import Sha256
from autoretrain.api.gates import GateCheckResult, GateVerdict


class PodEnv:
    """Names of the environment variables of the pod contract.

    Attributes rather than strings at each use, so a misspelt name fails at
    once (and in mypy) instead of reading as an unset variable.
    """

    # Training and gate containers.
    RUN: Final = "AUTORETRAIN_RUN"
    HOLDOUT_URI: Final = "AUTORETRAIN_HOLDOUT_URI"
    #: The serving champion; all three are empty before the first promotion.
    CHAMPION_URI: Final = "AUTORETRAIN_CHAMPION_URI"
    CHAMPION_SHA256: Final = "AUTORETRAIN_CHAMPION_SHA256"
    CHAMPION_VERSION: Final = "AUTORETRAIN_CHAMPION_VERSION"

    # Training containers.
    VERSION: Final = "AUTORETRAIN_VERSION"
    #: The version folder the candidate is written into (see ``version_folder_uri``).
    OUTPUT_URI: Final = "AUTORETRAIN_OUTPUT_URI"
    ARTIFACTS_URI: Final = "AUTORETRAIN_ARTIFACTS_URI"
    TRAIN_URI: Final = "AUTORETRAIN_TRAIN_URI"
    #: The training data's time range (RFC 3339), empty without ``spec.data.window``.
    DATA_WINDOW_START: Final = "AUTORETRAIN_DATA_WINDOW_START"
    DATA_WINDOW_END: Final = "AUTORETRAIN_DATA_WINDOW_END"
    #: The container's own image, for the candidate's lineage.
    IMAGE: Final = "AUTORETRAIN_IMAGE"

    # Gate containers: the built-in runner and every custom check.
    CANDIDATE_URI: Final = "AUTORETRAIN_CANDIDATE_URI"
    CANDIDATE_SHA256: Final = "AUTORETRAIN_CANDIDATE_SHA256"
    #: The sha256 of the candidate's ``metadata.json`` that its training report recorded;
    #: empty when the trainer reported none.
    CANDIDATE_METADATA_SHA256: Final = "AUTORETRAIN_CANDIDATE_METADATA_SHA256"
    #: ``spec.gates.offline`` as compact JSON.
    GATES: Final = "AUTORETRAIN_GATES"
    #: Where the full gate report goes: the candidate's ``gate-report.json``.
    REPORT_URI: Final = "AUTORETRAIN_REPORT_URI"

    # Serving containers. The first three are the defaults of
    # spec.serving.modelUriEnv, modelSha256Env and modelVersionEnv.
    MODEL_URI: Final = "AUTORETRAIN_MODEL_URI"
    MODEL_SHA256: Final = "AUTORETRAIN_MODEL_SHA256"
    MODEL_VERSION: Final = "AUTORETRAIN_MODEL_VERSION"
    #: ``canary`` in the canary Deployment; the server labels its metrics with it.
    TRACK: Final = "AUTORETRAIN_TRACK"
    #: ``spec.monitoring.predictionLog``: the folder and the longest wait of a logged row.
    PREDICTION_LOG_URI: Final = "AUTORETRAIN_PREDICTION_LOG_URI"
    PREDICTION_LOG_FLUSH_INTERVAL: Final = "AUTORETRAIN_PREDICTION_LOG_FLUSH_INTERVAL"

    # Backtest containers, besides the candidate (the live version), the champion (the
    # one it replaced), the gates and the report. The version's name is VERSION.
    LABELS_URI: Final = "AUTORETRAIN_LABELS_URI"
    LABELS_ID_COLUMN: Final = "AUTORETRAIN_LABELS_ID_COLUMN"
    #: Optional: when each label was known, for corrected labels and clock checks.
    LABELS_TIMESTAMP_COLUMN: Final = "AUTORETRAIN_LABELS_TIMESTAMP_COLUMN"
    #: How old a prediction must be for its label to have arrived, e.g. 72h.
    LABELS_MATURITY: Final = "AUTORETRAIN_LABELS_MATURITY"

    # Options of the reference images that users set (the operator never does).
    LABEL_COLUMN: Final = "AUTORETRAIN_LABEL_COLUMN"
    GIT_COMMIT: Final = "AUTORETRAIN_GIT_COMMIT"
    #: The reference trainer's estimator (``--model``) and its parameters (``--param``):
    #: a Python literal dict such as ``{"C": 0.5, "class_weight": {0: 1, 1: 5}}``.
    TRAIN_ESTIMATOR: Final = "AUTORETRAIN_TRAIN_ESTIMATOR"
    TRAIN_PARAMS: Final = "AUTORETRAIN_TRAIN_PARAMS"
    MODEL_NAME: Final = "AUTORETRAIN_MODEL_NAME"
    PORT: Final = "AUTORETRAIN_PORT"
    VALUE_BUCKETS: Final = "AUTORETRAIN_VALUE_BUCKETS"
    #: Seconds the server keeps serving after SIGTERM, unready, before it stops.
    DRAIN_SECONDS: Final = "AUTORETRAIN_DRAIN_SECONDS"
    #: Where to write the termination message instead of /dev/termination-log,
    #: for runs outside Kubernetes.
    TERMINATION_MESSAGE_PATH: Final = "AUTORETRAIN_TERMINATION_MESSAGE_PATH"


_CHAMPION_ENV = (PodEnv.CHAMPION_URI, PodEnv.CHAMPION_SHA256, PodEnv.CHAMPION_VERSION)
#: What the operator sets in every container of a training Job.
TRAINING_ENV: Final = (
    PodEnv.RUN,
    PodEnv.VERSION,
    PodEnv.OUTPUT_URI,
    PodEnv.ARTIFACTS_URI,
    PodEnv.TRAIN_URI,
    PodEnv.HOLDOUT_URI,
    PodEnv.DATA_WINDOW_START,
    PodEnv.DATA_WINDOW_END,
    *_CHAMPION_ENV,
    PodEnv.IMAGE,
)
#: What the operator sets in every container of a gate Job.
GATE_ENV: Final = (
    PodEnv.RUN,
    PodEnv.CANDIDATE_URI,
    PodEnv.CANDIDATE_SHA256,
    PodEnv.CANDIDATE_METADATA_SHA256,
    PodEnv.HOLDOUT_URI,
    PodEnv.GATES,
    PodEnv.REPORT_URI,
    *_CHAMPION_ENV,
)
#: What a backtest container reads (``python -m autoretrain.gates.backtest``).
BACKTEST_ENV: Final = (
    PodEnv.VERSION,
    PodEnv.PREDICTION_LOG_URI,
    PodEnv.LABELS_URI,
    PodEnv.LABELS_ID_COLUMN,
    PodEnv.LABELS_MATURITY,
    PodEnv.CANDIDATE_URI,
    PodEnv.CANDIDATE_SHA256,
    PodEnv.CANDIDATE_METADATA_SHA256,
    PodEnv.GATES,
    PodEnv.REPORT_URI,
    *_CHAMPION_ENV,
)
#: What the operator sets in the canary's serving container, under the default names.
SERVING_ENV: Final = (PodEnv.MODEL_URI, PodEnv.MODEL_SHA256, PodEnv.MODEL_VERSION, PodEnv.TRACK)


# -- the artifact layout -------------------------------------------------------

VERSIONS_FOLDER: Final = "versions/"
MODEL_FILE: Final = "model.skops"
#: Written last and create-only: its existence seals the version.
METADATA_FILE: Final = "metadata.json"
GATE_REPORT_FILE: Final = "gate-report.json"
#: Hashes of the candidate's training rows, for the gate's holdout overlap check.
ROW_HASHES_FILE: Final = "training-rows.hashes"
#: A version's backtests: ``backtests/<tick>/report.json`` with the joined ``holdout.parquet``.
BACKTESTS_FOLDER: Final = "backtests/"


def version_key(version: str) -> str:
    """The folder of a version, relative to the artifacts URI.

    >>> version_key("churn-m-1")
    'versions/churn-m-1/'
    """
    return f"{VERSIONS_FOLDER}{version}/"


def version_folder_uri(artifacts_uri: str, version: str) -> str:
    """The folder of a version under a ModelRetrain's ``spec.artifacts.uri``.

    >>> version_folder_uri("s3://models/churn", "churn-m-1")
    's3://models/churn/versions/churn-m-1/'
    """
    return artifacts_uri.rstrip("/") + "/" + version_key(version)


# -- the data a candidate trains on -------------------------------------------


class DataRange(ApiModel):
    """The time range of the data a candidate trained on; both ends absent without a window.

    The operator computes it from ``spec.data.window`` and the run's scheduled time,
    hands it to the training pod, and the trainer records it in the lineage.

    >>> from datetime import UTC
    >>> start, end = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC)
    >>> day = DataRange(start=start, end=end)
    >>> DataRange.from_env(day.to_env()) == day, DataRange().to_env()[PodEnv.DATA_WINDOW_END]
    (True, '')
    """

    start: datetime | None = Field(default=None, description="Inclusive start.")
    end: datetime | None = Field(default=None, description="Exclusive end.")

    def to_env(self) -> dict[str, str]:
        """The training pod's variables, RFC 3339 or empty."""
        return {
            PodEnv.DATA_WINDOW_START: self.start.isoformat() if self.start else "",
            PodEnv.DATA_WINDOW_END: self.end.isoformat() if self.end else "",
        }

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DataRange:
        def parse(name: str) -> datetime | None:
            text = env.get(name) or ""
            return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None

        return cls(start=parse(PodEnv.DATA_WINDOW_START), end=parse(PodEnv.DATA_WINDOW_END))


# -- what pods report ----------------------------------------------------------

#: Kubernetes keeps at most this much of a termination message.
MAX_TERMINATION_MESSAGE_BYTES: Final = 4096


def compact_json(payload: Mapping[str, object]) -> str:
    """JSON without spaces, as the termination message carries it; NaN is refused.

    >>> compact_json({"verdict": "Passed", "checks": []})
    '{"verdict":"Passed","checks":[]}'
    """
    return json.dumps(payload, separators=(",", ":"), allow_nan=False)


class ReportError(ValueError):
    """A termination message that is not the report it should be; says what is wrong."""


class PodReport(ApiModel):
    """A report a pod writes to its termination message as compact JSON."""

    def to_termination_message(self) -> str:
        """The message; a report that does not fit in 4096 bytes raises ``ReportError``.

        A report is never cut: half a JSON document is no report at all, and a
        shortened one would say something else. The gate runner fits its verdict
        first (``autoretrain.gates.report.compact_message``).
        """
        text = compact_json(self.to_wire())
        size = len(text.encode())
        if size > MAX_TERMINATION_MESSAGE_BYTES:
            raise ReportError(
                f"{type(self).__name__} of {size} bytes does not fit in a termination "
                f"message ({MAX_TERMINATION_MESSAGE_BYTES} bytes)"
            )
        return text

    @classmethod
    def from_termination_message(cls, message: str | None) -> Self:
        """Parse a termination message; ``ReportError`` says in one line why it is not one.

        >>> FailureReport.from_termination_message('{"error": "disk full"}').error
        'disk full'
        >>> TrainingReport.from_termination_message('{"error": "disk full"}')
        Traceback (most recent call last):
        ...
        autoretrain.api.pods.ReportError: the pod reported a failure: disk full
        """
        text = message or ""
        if not text.strip():
            raise ReportError("the termination message is empty")
        try:
            return cls.model_validate_json(text)
        except ValidationError as error:
            failure = _failure_in(text)
            if failure is not None:
                raise ReportError(f"the pod reported a failure: {failure}") from None
            raise ReportError(_summary(error)) from error


def _failure_in(message: str) -> str | None:
    try:
        return FailureReport.model_validate_json(message).error
    except ValidationError:
        return None


def _summary(error: ValidationError) -> str:
    """Pydantic's errors on one line: ``candidateUri: Field required; ...``."""
    return "; ".join(
        f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']}" if e["loc"] else e["msg"]
        for e in error.errors(include_url=False)
    )


class TrainingReport(PodReport):
    """What a training container reports when it has written and sealed its candidate.

    Unknown fields are ignored, so users' trainers may report more than this.
    """

    model_config = ConfigDict(extra="ignore")

    candidate_uri: str = Field(min_length=1, description="URI of the candidate's model artifact.")
    sha256: Sha256 = Field(description="Hex sha256 of the artifact.")
    metrics: dict[str, float] = Field(
        default_factory=dict, description="Metrics on the holdout at training time."
    )
    metadata_uri: str | None = Field(
        default=None, description="URI of the candidate's metadata.json."
    )
    metadata_sha256: Sha256 | None = Field(
        default=None,
        description=(
            "Hex sha256 of the exact bytes of the candidate's metadata.json. The run records "
            "it (lineage metadataSha256) and the gate refuses a metadata.json that does not "
            "hash to it, as it refuses a tampered model."
        ),
    )
    lineage: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Where the candidate came from (run, image, imageDigest, gitCommit, "
            "dependenciesSha256, metadataSha256, trainingRows, dataWindowStart, "
            "dataWindowEnd, or anything else); added to the run's lineage. The operator adds "
            "imageDigest from the training pod's status, the image that actually ran."
        ),
    )

    @field_validator("lineage", mode="before")
    @classmethod
    def _lineage_as_text(cls, value: object) -> object:
        """Numbers and booleans a user's trainer reports become text; nulls are dropped."""
        if not isinstance(value, Mapping):
            return value
        return {key: str(item) for key, item in value.items() if item is not None}


class GateVerdictMessage(PodReport):
    """The compact verdict a gate container writes to its termination message."""

    verdict: GateVerdict = Field(
        description=(
            "Passed; Rejected when any check Failed; Inconclusive when none failed but the "
            "holdout could not vouch for the candidate (spec.gates.offline.onInconclusive "
            "decides what follows)."
        )
    )
    reason: str = Field(
        description="One line: the first failing (or inconclusive) check, and every warning."
    )
    checks: list[GateCheckResult] = Field(
        default_factory=list, description="Checks, failing ones first."
    )
    truncated: int = Field(
        default=0, ge=0, description="Checks left out to fit the message; the report has all."
    )
    report_uri: str | None = Field(default=None, description="Full JSON report.")


class LabelCoverage(ApiModel):
    """How much of a version's logged traffic a backtest could judge, and why not the rest."""

    logged: int = Field(
        ge=0, description="Predictions the version logged up to the day the maturity ends on."
    )
    matured: int = Field(ge=0, description="Of those, old enough for their labels to be in.")
    labelled: int = Field(ge=0, description="Matured predictions that found their label.")
    duplicate_predictions: int = Field(default=0, ge=0, description="Repeated ids, counted once.")
    duplicate_labels: int = Field(default=0, ge=0, description="Labels replaced by newer ones.")
    labels_before_prediction: int = Field(
        default=0, ge=0, description="Labels stamped before their prediction, dropped."
    )
    newest_labelled_prediction: datetime | None = Field(
        default=None, description="When the newest judged prediction was answered."
    )

    @property
    def share(self) -> float | None:
        """Matured predictions that found their label; None before any matured."""
        return self.labelled / self.matured if self.matured else None


class BacktestMessage(PodReport):
    """What a backtest container writes to its termination message."""

    version: str = Field(description="The live version judged.")
    replaced: str | None = Field(default=None, description="The champion it was compared with.")
    coverage: LabelCoverage = Field(description="What could be judged.")
    gate: GateVerdictMessage | None = Field(
        default=None, description="The verdict on the judged rows; absent when there were none."
    )


#: Marks an error text that was shortened to fit.
_ELLIPSIS = "..."


class FailureReport(PodReport):
    """What a pod writes when it could not do its job: ``{"error": "..."}``, exit code 1.

    The trainer, the gate runner when it could not judge at all, and the server
    when it refuses a model write one.
    """

    error: str = Field(description="Why: what failed first, then the details.")

    def to_termination_message(self) -> str:
        """The message, with the error text shortened to fit in 4096 bytes.

        The start of an error says what failed, so the end is what gives way.

        >>> long = FailureReport(error="OSError: " + "x" * 5000).to_termination_message()
        >>> len(long), long[:20], long[-7:]
        (4096, '{"error":"OSError: x', 'xx..."}')
        """
        text = self._message(self.error)
        if len(text.encode()) <= MAX_TERMINATION_MESSAGE_BYTES:
            return text
        # The longest prefix that fits: JSON escapes make the bytes per character
        # vary, so search for it rather than compute it.
        fits, too_long = 0, len(self.error)
        while too_long - fits > 1:
            middle = (fits + too_long) // 2
            shortened = self._message(self.error[:middle] + _ELLIPSIS)
            if len(shortened.encode()) <= MAX_TERMINATION_MESSAGE_BYTES:
                fits = middle
            else:
                too_long = middle
        return self._message(self.error[:fits] + _ELLIPSIS)

    def _message(self, error: str) -> str:
        return compact_json(self.model_copy(update={"error": error}).to_wire())
