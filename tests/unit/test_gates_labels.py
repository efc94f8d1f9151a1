"""Joining logged predictions with late labels: maturity, gaps, duplicates and skewed clocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from autoretrain.gates.labels import Joined, LabelsError, LabelSpec, join_labels

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=10)
MATURITY = timedelta(days=7)
SPEC = LabelSpec("request", "churned", "labelled_at")


def logged(*rows: tuple[str, timedelta, float]) -> pd.DataFrame:
    """Prediction-log rows: (id, answered after T0, the input ``spend``)."""
    return pd.DataFrame(
        {
            "id": [r[0] for r in rows],
            "timestamp": pd.to_datetime([T0 + r[1] for r in rows], utc=True).as_unit("ms"),
            "model_version": "v1",
            "prediction": "0",
            "input.spend": [r[2] for r in rows],
        }
    )


def labels(*rows: tuple[object, int, timedelta]) -> pd.DataFrame:
    """Label rows: (id, label, known after T0), with a revenue column for weighted metrics."""
    return pd.DataFrame(
        {
            "request": [r[0] for r in rows],
            "churned": [r[1] for r in rows],
            "labelled_at": [(T0 + r[2]).isoformat() for r in rows],
            "revenue": [10.0 * (i + 1) for i in range(len(rows))],
        }
    )


def join(predictions: pd.DataFrame, feed: pd.DataFrame, spec: LabelSpec = SPEC) -> Joined:
    return join_labels(predictions, feed, spec, now=NOW, maturity=MATURITY)


def test_only_matured_predictions_are_judged_even_when_their_labels_came_early() -> None:
    day = timedelta(days=1)
    joined = join(
        logged(("old", 0 * day, 1.0), ("young", 5 * day, 2.0)),
        labels(("old", 1, day), ("young", 0, 6 * day)),
    )
    assert joined.frame.to_dict("list") == {
        "spend": [1.0],
        "churned": [1],
        "labelled_at": [pd.Timestamp(T0 + day)],
        "revenue": [10.0],
    }
    coverage = joined.coverage
    assert (coverage.logged, coverage.matured, coverage.labelled) == (2, 1, 1)
    assert coverage.newest_labelled_prediction == T0


def test_matured_predictions_without_a_label_lower_the_share() -> None:
    joined = join(
        logged(("a", timedelta(0), 1.0), ("b", timedelta(0), 2.0), ("c", timedelta(0), 3.0)),
        labels(("b", 1, timedelta(days=2))),
    )
    assert joined.frame["spend"].tolist() == [2.0]
    assert joined.coverage.share == pytest.approx(1 / 3)


def test_nothing_matured_yet_has_no_share_rather_than_a_perfect_one() -> None:
    joined = join(logged(("a", timedelta(days=9), 1.0)), labels(("a", 1, timedelta(days=9))))
    assert joined.coverage.matured == 0 and joined.coverage.share is None
    assert joined.coverage.newest_labelled_prediction is None and joined.frame.empty


def test_a_corrected_label_replaces_the_first_and_a_retried_request_counts_once() -> None:
    joined = join(
        logged(("a", timedelta(0), 1.0), ("a", timedelta(hours=1), 9.0)),
        labels(("a", 1, timedelta(days=3)), ("a", 0, timedelta(days=2))),  # newest: 1
    )
    assert joined.frame[["spend", "churned"]].to_dict("list") == {"spend": [1.0], "churned": [1]}
    assert joined.coverage.duplicate_predictions == 1
    assert joined.coverage.duplicate_labels == 1


def test_without_label_times_the_last_label_row_wins() -> None:
    feed = labels(("a", 0, timedelta(days=2)), ("a", 1, timedelta(days=1))).drop(
        columns="labelled_at"
    )
    joined = join(logged(("a", timedelta(0), 1.0)), feed, LabelSpec("request", "churned"))
    assert joined.frame["churned"].tolist() == [1]


def test_a_label_stamped_before_its_prediction_is_dropped_beyond_the_clock_skew() -> None:
    joined = join(
        logged(("skewed", timedelta(hours=1), 1.0), ("impossible", timedelta(days=1), 2.0)),
        labels(("skewed", 1, timedelta(minutes=58)), ("impossible", 1, timedelta(hours=2))),
    )
    assert joined.frame["spend"].tolist() == [1.0]
    assert joined.coverage.labels_before_prediction == 1


def test_numeric_label_ids_match_the_logs_text_ids() -> None:
    joined = join(logged(("42", timedelta(0), 1.0)), labels((42, 1, timedelta(days=1))))
    assert joined.coverage.labelled == 1


@pytest.mark.parametrize("column", ["request", "churned", "labelled_at"])
def test_a_missing_label_column_is_named(column: str) -> None:
    with pytest.raises(LabelsError, match=column):
        join(logged(("a", timedelta(0), 1.0)), labels(("a", 1, timedelta(1))).drop(columns=column))


def test_a_label_column_that_shadows_a_model_input_is_refused() -> None:
    feed = labels(("a", 1, timedelta(days=1))).assign(spend=3.0)
    with pytest.raises(LabelsError, match="spend"):
        join(logged(("a", timedelta(0), 1.0)), feed)
