"""``python -m autoretrain.gates.backtest``: judge a live version on the labels its traffic earned.

The gate judged the version on a holdout before it served. Labels for the
traffic it then served arrive later. The backtest joins the version's matured
predictions from the prediction log (docs/prediction-log.md) with those labels
(``autoretrain.gates.labels``) and runs the gate's own checks on the result,
with the version as the candidate and the champion it replaced as the
champion. Both are scored on the very inputs the live version was shown, so the
comparison is paired: far stronger than comparing two weeks of metrics.

Environment (``autoretrain.api.pods.BACKTEST_ENV``): ``AUTORETRAIN_VERSION``,
optionally ``AUTORETRAIN_MODEL_NAME`` (the served model's name in the log;
without it the version is looked for under every model),
``AUTORETRAIN_PREDICTION_LOG_URI``, ``AUTORETRAIN_LABELS_URI`` (a CSV or
Parquet file or folder), ``AUTORETRAIN_LABELS_ID_COLUMN``,
``AUTORETRAIN_LABELS_MATURITY`` (e.g. ``72h``), optionally
``AUTORETRAIN_LABELS_TIMESTAMP_COLUMN``, ``AUTORETRAIN_CANDIDATE_URI`` and
``_SHA256`` (the version's model), ``AUTORETRAIN_CHAMPION_URI`` and ``_SHA256``
(the model it replaced; empty for none), ``AUTORETRAIN_GATES`` (JSON of
``OfflineGates``: its ``labelColumn`` names the label) and
``AUTORETRAIN_REPORT_URI``. The joined rows are kept beside the report, as
``holdout.parquet``, so every verdict can be checked again.

Exit code 0 for any verdict, and when nothing has matured yet (the message then
has no ``gate``): missing labels are news, not a failure. Exit 1 with a
``FailureReport`` when the backtest cannot run: the log or labels cannot be
read, or a named column is missing.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import Field

from autoretrain.api.base import ApiModel
from autoretrain.api.durations import duration_seconds
from autoretrain.api.pods import (
    MAX_TERMINATION_MESSAGE_BYTES,
    BacktestMessage,
    LabelCoverage,
    PodEnv,
)
from autoretrain.gates.errors import GateConfigError, GateRunnerError
from autoretrain.gates.labels import LabelsError, LabelSpec, join_labels
from autoretrain.gates.report import GateReport, compact_message
from autoretrain.gates.runner import GateInputs, run_gate, run_job
from autoretrain.store import prediction_log
from autoretrain.store.datasets import read_table
from autoretrain.store.errors import StoreError
from autoretrain.store.objects import join_uri, open_store, split_uri, write_uri

log = logging.getLogger("autoretrain.backtest")

HOLDOUT_FILE = "holdout.parquet"


class BacktestReport(ApiModel):
    """The full backtest report: what could be judged, and the gate's report on it."""

    version: str = Field(description="The live version judged.")
    replaced: str | None = Field(default=None, description="The champion it was compared with.")
    coverage: LabelCoverage = Field(description="What could be judged.")
    gate: GateReport | None = Field(default=None, description="Absent: nothing was judged.")


@dataclass(frozen=True)
class BacktestInputs:
    """What the backtest Job is asked to judge, and against which labels."""

    version: str
    replaced: str | None
    model_name: str | None
    log_uri: str
    labels_uri: str
    labels: LabelSpec
    maturity: timedelta
    gate: GateInputs
    report_uri: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BacktestInputs:
        required = (
            PodEnv.VERSION, PodEnv.PREDICTION_LOG_URI, PodEnv.LABELS_URI,
            PodEnv.LABELS_ID_COLUMN, PodEnv.LABELS_MATURITY, PodEnv.REPORT_URI,
        )  # fmt: skip
        missing = [name for name in required if not env.get(name)]
        if missing:
            raise GateRunnerError(f"missing environment: {', '.join(missing)}")
        report_uri = env[PodEnv.REPORT_URI]
        # The gate reads the joined rows back from beside the report, as it reads any holdout.
        holdout = join_uri(split_uri(report_uri)[0], HOLDOUT_FILE)
        gate = GateInputs.from_env({**env, PodEnv.HOLDOUT_URI: holdout, PodEnv.REPORT_URI: ""})
        try:
            maturity = timedelta(seconds=duration_seconds(env[PodEnv.LABELS_MATURITY]))
        except ValueError as error:
            raise GateRunnerError(f"{PodEnv.LABELS_MATURITY}: {error}") from error
        return cls(
            version=env[PodEnv.VERSION],
            replaced=env.get(PodEnv.CHAMPION_VERSION) or None,
            model_name=env.get(PodEnv.MODEL_NAME) or None,
            log_uri=env[PodEnv.PREDICTION_LOG_URI],
            labels_uri=env[PodEnv.LABELS_URI],
            labels=LabelSpec(
                env[PodEnv.LABELS_ID_COLUMN],
                gate.gates.label_column,
                env.get(PodEnv.LABELS_TIMESTAMP_COLUMN) or None,
            ),
            maturity=maturity,
            gate=gate,
            report_uri=report_uri,
        )


def run_backtest(inputs: BacktestInputs, now: datetime) -> BacktestMessage:
    """Join, judge and write the report; the message for the termination log."""
    try:
        logged = prediction_log.read_version(
            open_store(inputs.log_uri), inputs.model_name, inputs.version, now - inputs.maturity
        )
        labels = read_table(inputs.labels_uri)
    except StoreError as error:
        raise GateRunnerError(f"cannot read the log or the labels: {error}") from error
    try:
        joined = join_labels(logged, labels, inputs.labels, now=now, maturity=inputs.maturity)
    except LabelsError as error:
        raise GateConfigError(f"{inputs.labels_uri}: {error}") from error
    coverage = joined.coverage
    log.info("%s: %s", inputs.version, coverage.model_dump_json(exclude_none=True))
    judged = BacktestReport(version=inputs.version, replaced=inputs.replaced, coverage=coverage)
    message = BacktestMessage(version=inputs.version, replaced=inputs.replaced, coverage=coverage)
    if joined.frame.empty:
        _write(judged, inputs.report_uri)
        return message
    buffer = io.BytesIO()
    joined.frame.to_parquet(buffer, index=False)
    write_uri(inputs.gate.holdout_uri, buffer.getvalue())
    report = run_gate(inputs.gate, now)
    _write(judged.model_copy(update={"gate": report}), inputs.report_uri)
    # The version and coverage always fit; the verdict's checks give way to them.
    room = MAX_TERMINATION_MESSAGE_BYTES - len(message.to_termination_message().encode())
    limit = room - len(',"gate":')
    uri = inputs.report_uri
    verdict = compact_message(report.verdict, report.reason, report.checks, uri, limit)
    return message.model_copy(update={"gate": verdict})


def _write(report: BacktestReport, uri: str) -> None:
    write_uri(uri, report.model_dump_json(by_alias=True, exclude_none=True, indent=2).encode())


def main(env: Mapping[str, str] | None = None) -> int:
    """Run the backtest; 0 for any verdict (or nothing to judge yet), 1 when it failed."""
    return run_job("backtest", _backtest, env)


def _backtest(environment: Mapping[str, str]) -> BacktestMessage:
    return run_backtest(BacktestInputs.from_env(environment), datetime.now(UTC))


if __name__ == "__main__":
    raise SystemExit(main())
