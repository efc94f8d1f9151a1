"""Joining logged predictions with labels that arrived later: the backtest's holdout.

Only predictions old enough for their labels to have arrived (``maturity``) are
judged. Labels that come early are usually unlike the rest (a customer who
churns in the first week), so judging immature predictions by the few labels
they have would bias the score.

Real label feeds are messy, and each mess is counted in the ``LabelCoverage`` rather
than hidden:
- a prediction logged twice under one id (a client's retry) counts once, the
  first time it was answered;
- a label given twice counts once: the newest by its timestamp column, else the
  last row, since feeds append corrections;
- a label stamped before its prediction (beyond ``max_clock_skew``) cannot be
  about it, and is dropped;
- matured predictions with no label lower the coverage share, which the
  operator weighs before it trusts the score.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from autoretrain.api.pods import LabelCoverage
from autoretrain.store import prediction_log as log

_ID, _AT = "\x00prediction id", "\x00predicted at"


class LabelsError(ValueError):
    """The labels do not fit the spec: a named column is missing."""


@dataclass(frozen=True)
class LabelSpec:
    """Where the labels are in their table."""

    id_column: str
    label_column: str
    #: When each label was known; optional, for duplicates and clock checks.
    timestamp_column: str | None = None


@dataclass(frozen=True)
class Joined:
    """The judged rows (model inputs, the label, the labels' other columns) and the coverage."""

    frame: pd.DataFrame
    coverage: LabelCoverage


def _latest_labels(labels: pd.DataFrame, spec: LabelSpec) -> tuple[pd.DataFrame, int]:
    frame = labels.assign(**{spec.id_column: labels[spec.id_column].astype(str)})
    if spec.timestamp_column is not None:
        stamps = pd.to_datetime(frame[spec.timestamp_column], utc=True)
        frame = frame.assign(**{spec.timestamp_column: stamps}).sort_values(
            spec.timestamp_column, kind="stable"
        )
    latest = frame.drop_duplicates(spec.id_column, keep="last")
    return latest, len(frame) - len(latest)


def join_labels(
    predictions: pd.DataFrame,
    labels: pd.DataFrame,
    spec: LabelSpec,
    *,
    now: datetime,
    maturity: timedelta,
    max_clock_skew: timedelta = timedelta(minutes=5),
) -> Joined:
    """The matured, labelled predictions as a holdout the gate can judge.

    ``predictions`` are prediction-log rows (docs/prediction-log.md).

    >>> from datetime import UTC
    >>> at = datetime(2026, 12, 1, tzinfo=UTC)
    >>> logged = pd.DataFrame({"id": ["a", "b", "c"], "timestamp": [at, at, at + timedelta(days=2)],
    ...                        "input.x": [1.0, 2.0, 3.0]})
    >>> labels = pd.DataFrame({"id": ["a", "a", "c"], "y": [0, 1, 1]})
    >>> joined = join_labels(logged, labels, LabelSpec("id", "y"),
    ...                      now=at + timedelta(days=3), maturity=timedelta(days=2))
    >>> joined.frame.to_dict("list"), joined.coverage.share
    ({'x': [1.0], 'y': [1]}, 0.5)
    """
    missing = [c for c in (spec.id_column, spec.label_column, spec.timestamp_column) if c]
    missing = [c for c in missing if c not in labels.columns]
    if missing:
        raise LabelsError(f"the labels have no column {', '.join(map(repr, missing))}")
    stamped = predictions.assign(
        **{log.TIMESTAMP: pd.to_datetime(predictions[log.TIMESTAMP], utc=True)}
    ).sort_values(log.TIMESTAMP, kind="stable")
    unique = stamped.drop_duplicates(log.ID, keep="first")
    matured = unique[unique[log.TIMESTAMP] <= pd.Timestamp(now - maturity)]
    latest, duplicate_labels = _latest_labels(labels, spec)
    inputs = log.inputs_of(matured)
    clash = sorted(set(inputs.columns) & (set(latest.columns) - {spec.id_column}))
    if clash:
        raise LabelsError(f"the labels have columns the model also takes as inputs: {clash}")
    # The log's own columns under names no label table uses, so none of its columns clash.
    keys = matured[[log.ID, log.TIMESTAMP]].set_axis([_ID, _AT], axis=1)
    keyed = pd.concat([keys.reset_index(drop=True), inputs.reset_index(drop=True)], axis=1)
    merged = keyed.merge(latest, left_on=_ID, right_on=spec.id_column, how="inner")
    early = 0
    if spec.timestamp_column is not None:
        too_early = merged[spec.timestamp_column] < merged[_AT] - max_clock_skew
        early = int(too_early.sum())
        merged = merged[~too_early]
    newest = merged[_AT].max() if len(merged) else None
    coverage = LabelCoverage(
        logged=len(predictions),
        matured=len(matured),
        labelled=len(merged),
        duplicate_predictions=len(stamped) - len(unique),
        duplicate_labels=duplicate_labels,
        labels_before_prediction=early,
        newest_labelled_prediction=None if newest is None else newest.to_pydatetime(),
    )
    judged = merged.drop(columns=[_ID, _AT, spec.id_column]).reset_index(drop=True)
    return Joined(judged, coverage)
