"""PromQL text: placeholder rendering and the built-in checks' queries (pure).

Placeholders are written ``{{track}}`` (spaces inside the braces allowed). The
values are Kubernetes names and the fixed tracks, but they are escaped for a
PromQL double-quoted string anyway, so a query can never be broken out of.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from autoretrain.api import online as spec

Track = Literal["canary", "stable"]

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


@dataclass(frozen=True)
class QueryContext:
    """What placeholders stand for during one canary: names, versions, the track asked about."""

    namespace: str
    name: str
    stable: str
    canary: str
    #: The candidate the canary serves, and the model the stable Deployment serves; a
    #: track's series are selected by version, so a previous canary's never count.
    canary_version: str = ""
    stable_version: str = ""

    def variables(self, track: Track) -> dict[str, str]:
        """The placeholder values for ``track``."""
        return {
            "track": track,
            "version": self.canary_version if track == "canary" else self.stable_version,
            "namespace": self.namespace,
            "name": self.name,
            "stable": self.stable,
            "canary": self.canary,
        }


def render_query(template: str, variables: dict[str, str]) -> str:
    """Substitute ``{{placeholders}}``; an unknown one is an error, not an empty string.

    >>> render_query('up{track="{{ track }}"}', {"track": "canary"})
    'up{track="canary"}'
    >>> render_query('x{a="{{v}}"}', {"v": 'q"\\\\'})
    'x{a="q\\\\"\\\\\\\\"}'
    """

    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in variables:
            known = ", ".join(sorted(variables))
            raise ValueError(f"unknown placeholder {{{{{key}}}}} (known: {known})")
        return variables[key].replace("\\", "\\\\").replace('"', '\\"')

    return _PLACEHOLDER.sub(substitute, template)


def promql_duration(text: str) -> str:
    """A spec duration in PromQL's syntax, which has no fractions.

    >>> promql_duration("2m"), promql_duration("1.5m"), promql_duration("250ms")
    ('120s', '90s', '250ms')
    """
    millis = round(spec.duration_seconds(text) * 1000)
    if millis <= 0:
        raise ValueError(f"a query window must be positive: {text!r}")
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


@dataclass(frozen=True)
class BuiltinQueries:
    """The PromQL the built-in checks send for one track (selector already rendered)."""

    selector: str
    window: str

    def _sel(self, metric: str) -> str:
        return f"{metric}{{{self.selector}}}[{self.window}]"

    def _increase(self, metric: str, by: str = "") -> str:
        return f"sum{by}(increase({self._sel(metric)}))"

    def requests(self) -> str:
        """Requests the track served in the window."""
        return self._increase(spec.SERVER_REQUESTS)

    def errors(self) -> str:
        """Requests the track failed in the window."""
        return self._increase(spec.SERVER_ERRORS)

    def error_ratio(self) -> str:
        """Failed share of requests (a series for the statistical judge)."""
        return (
            f"sum(rate({self._sel(spec.SERVER_ERRORS)})) / "
            f"sum(rate({self._sel(spec.SERVER_REQUESTS)}))"
        )

    def latency_p99(self) -> str:
        """99th percentile request latency in seconds."""
        bucket = self._sel(spec.SERVER_LATENCY + "_bucket")
        return f"histogram_quantile(0.99, sum by (le) (rate({bucket})))"

    def class_counts(self) -> str:
        """Predictions per class (classifiers)."""
        return self._increase(spec.SERVER_PREDICTIONS, " by (class) ")

    def non_finite_predictions(self) -> str:
        """Predictions that were NaN or infinite (regressors)."""
        return self._increase(spec.SERVER_PREDICTION_NANS)

    def value_buckets(self) -> str:
        """Cumulative prediction-value histogram buckets (regressors)."""
        return self._increase(spec.SERVER_PREDICTION_VALUE + "_bucket", " by (le) ")


def builtin_queries(
    analysis: spec.OnlineAnalysis, metric: spec.OnlineMetric, context: QueryContext, track: Track
) -> BuiltinQueries:
    """The built-in queries for ``track``.

    >>> a = spec.OnlineAnalysis(metrics=[spec.OnlineMetric(name="e", builtin="errorRate")])
    >>> ctx = QueryContext(namespace="ml", name="churn", stable="srv", canary="srv-canary",
    ...                    canary_version="churn-m-2", stable_version="churn-m-1")
    >>> builtin_queries(a, a.metrics[0], ctx, "canary").errors()  # doctest: +NORMALIZE_WHITESPACE
    'sum(increase(autoretrain_inference_errors_total{namespace="ml",track="canary",version="churn-m-2"}[120s]))'
    """
    selector = render_query(analysis.builtin_selector, context.variables(track))
    return BuiltinQueries(selector=selector, window=promql_duration(metric.window))
