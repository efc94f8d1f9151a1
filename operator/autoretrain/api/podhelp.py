"""The pod contract's environment in words, for each job's ``--help``.

``python -m autoretrain.train --help`` and ``python -m autoretrain.gates --help``
print what the operator sets in their pods from the same tuples the operator
uses to set it (``TRAINING_ENV``, ``GATE_ENV``), so the help cannot fall behind.
"""

from __future__ import annotations

from collections.abc import Iterable

from autoretrain.api.pods import PodEnv

MEANINGS: dict[str, str] = {
    PodEnv.RUN: "name of the ModelRetrainRun",
    PodEnv.VERSION: "version the candidate is stored under (the run's name)",
    PodEnv.OUTPUT_URI: "version folder to write model.skops and metadata.json into",
    PodEnv.ARTIFACTS_URI: "the ModelRetrain's artifact store (spec.artifacts.uri)",
    PodEnv.TRAIN_URI: "training data: a CSV or Parquet file, or a folder (s3:// or file://)",
    PodEnv.HOLDOUT_URI: "labelled holdout data, never trained on",
    PodEnv.DATA_WINDOW_START: "start of the training data's time range (RFC 3339, or empty)",
    PodEnv.DATA_WINDOW_END: "end of the training data's time range (RFC 3339, or empty)",
    PodEnv.CHAMPION_URI: "artifact of the serving champion (empty before the first promotion)",
    PodEnv.CHAMPION_SHA256: "sha256 of the champion's artifact (or empty)",
    PodEnv.CHAMPION_VERSION: "version of the champion (or empty)",
    PodEnv.IMAGE: "the container's own image, for the lineage",
    PodEnv.CANDIDATE_URI: "artifact of the candidate to judge",
    PodEnv.CANDIDATE_SHA256: "sha256 the candidate's artifact must have",
    PodEnv.GATES: "spec.gates.offline as compact JSON",
    PodEnv.REPORT_URI: "where the full gate report goes (gate-report.json)",
    PodEnv.LABEL_COLUMN: "label column (yours to set; the operator never does)",
    PodEnv.GIT_COMMIT: "commit of the training code, for the lineage (yours to set)",
    PodEnv.TERMINATION_MESSAGE_PATH: "write the report here instead of /dev/termination-log",
}


def environment_help(names: Iterable[str], title: str = "environment (set by the operator)") -> str:
    """A help section listing ``names`` with what each means.

    >>> print(environment_help([PodEnv.RUN, PodEnv.GATES]))
    environment (set by the operator):
      AUTORETRAIN_RUN    name of the ModelRetrainRun
      AUTORETRAIN_GATES  spec.gates.offline as compact JSON
    """
    listed = list(dict.fromkeys(names))
    width = max((len(n) for n in listed), default=0)
    lines = [f"  {name.ljust(width)}  {MEANINGS.get(name, '')}".rstrip() for name in listed]
    return "\n".join([f"{title}:", *lines])
