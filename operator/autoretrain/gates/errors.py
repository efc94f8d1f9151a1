"""Why the gate could not judge at all: the run fails (GateError), neither passes nor rejects."""

from __future__ import annotations


class GateRunnerError(Exception):
    """The gate could not judge: an unreadable holdout, a champion that fails its integrity
    check, or a configuration the holdout cannot satisfy."""


class GateConfigError(GateRunnerError):
    """The gate spec does not fit the holdout or the task: a missing label, weight or slice
    column, a metric of the other task, no spec at all. Fixing the spec fixes it, so it is
    reported as the configuration error it is, never as a verdict on the candidate."""
