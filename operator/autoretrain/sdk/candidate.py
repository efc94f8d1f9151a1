"""``Candidate``: what a user's own trainer needs to take part in autoretrain's loop.

A training pod is told what to do through the pod contract's environment
(``autoretrain.api.pods.TRAINING_ENV``) and answers through its termination
message. ``Candidate`` reads the one and writes the other, and in between it
stores the fitted model the way the gate and the model server expect it: a
skops archive (never a pickle), sealed by a create-only ``metadata.json`` that
carries the sha256, the input schema and the lineage.

    from autoretrain.sdk import Candidate

    with Candidate.from_env() as candidate:       # a failure inside ends the pod with its reason
        frame = candidate.read_train()
        model = MyPipeline().fit(frame[FEATURES], frame["churned"])
        candidate.save(model, features=frame[FEATURES], label_column="churned",
                       training_rows=len(frame), metrics={"roc_auc": 0.91})

The pod then exits 0 with a ``TrainingReport`` as its termination message, or
1 with a ``FailureReport`` naming the exception.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal

from autoretrain.api.common import ModelVersionRef
from autoretrain.api.pods import METADATA_FILE, DataRange, FailureReport, PodEnv, TrainingReport
from autoretrain.store import sealing
from autoretrain.store.datasets import read_table
from autoretrain.store.digests import sha256_hex
from autoretrain.store.metadata import InputColumn, ModelMetadata
from autoretrain.store.metadata import image_digest as image_digest
from autoretrain.store.models import dumps_model
from autoretrain.store.objects import open_store
from autoretrain.store.termination import write_termination_message

Task = Literal["Classification", "Regression"]


class ContractError(RuntimeError):
    """The pod's environment lacks what the contract promises; names the variables."""


def input_schema(features: Any) -> list[InputColumn]:
    """The input columns of a pandas DataFrame of model inputs, in their order.

    The gate feeds the candidate exactly these columns of the holdout, and checks
    them against the champion's, so pass the frame the model was fitted on.

    >>> import pandas as pd
    >>> [(c.name, c.kind) for c in input_schema(pd.DataFrame({"age": [1.0], "plan": ["a"]}))]
    [('age', 'numeric'), ('plan', 'string')]
    """
    return sealing.input_schema(features)


@dataclass(frozen=True)
class Candidate:
    """One training run's candidate: where it goes, what it trains on, what it reports.

    Build it with ``from_env`` in a training pod; pass ``env`` (a plain dict) to
    run the same code on a laptop against ``file://`` URIs.
    """

    run: str
    version: str
    output_uri: str
    """The version folder the candidate is written into."""
    train_uri: str
    holdout_uri: str | None
    data_window: DataRange
    image: str | None
    git_commit: str | None
    champion: ModelVersionRef | None
    """The model serving now (None before the first promotion), e.g. to warm-start from."""
    env: Mapping[str, str] = field(repr=False)
    report: TrainingReport | None = field(default=None, compare=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Candidate:
        """Read the injected ``AUTORETRAIN_*`` environment; ``ContractError`` names a gap."""
        source = dict(os.environ if env is None else env)
        version = source.get(PodEnv.VERSION) or source.get(PodEnv.RUN) or ""
        missing = [
            name
            for name, value in (
                (PodEnv.VERSION, version),
                (PodEnv.OUTPUT_URI, source.get(PodEnv.OUTPUT_URI)),
                (PodEnv.TRAIN_URI, source.get(PodEnv.TRAIN_URI)),
            )
            if not value
        ]
        if missing:
            raise ContractError(
                f"missing environment: {', '.join(missing)} (the operator sets them in "
                "training pods; set them yourself to run outside the cluster)"
            )
        champion = None
        if source.get(PodEnv.CHAMPION_URI):
            champion = ModelVersionRef(
                version=source.get(PodEnv.CHAMPION_VERSION) or "unknown",
                uri=source[PodEnv.CHAMPION_URI],
                sha256=source.get(PodEnv.CHAMPION_SHA256, ""),
            )
        return cls(
            run=source.get(PodEnv.RUN) or version,
            version=version,
            output_uri=source[PodEnv.OUTPUT_URI],
            train_uri=source[PodEnv.TRAIN_URI],
            holdout_uri=source.get(PodEnv.HOLDOUT_URI) or None,
            data_window=DataRange.from_env(source),
            image=source.get(PodEnv.IMAGE) or None,
            git_commit=source.get(PodEnv.GIT_COMMIT) or None,
            champion=champion,
            env=source,
        )

    # -- data ------------------------------------------------------------------------

    def read_train(self) -> Any:
        """The training data as a pandas DataFrame (a CSV or Parquet file, or a folder)."""
        return read_table(self.train_uri)

    def read_holdout(self) -> Any | None:
        """The holdout as a DataFrame, to report metrics; the gate judges on it anyway."""
        return read_table(self.holdout_uri) if self.holdout_uri else None

    # -- the candidate -----------------------------------------------------------------

    def save(
        self,
        model: Any,
        *,
        features: Any,
        label_column: str,
        training_rows: int,
        task: Task | None = None,
        metrics: Mapping[str, float] | None = None,
        estimator: str | None = None,
        lineage: Mapping[str, str] | None = None,
        labels: Any | None = None,
    ) -> TrainingReport:
        """Store the fitted scikit-learn ``model`` as this run's sealed version.

        ``features`` is the DataFrame of inputs the model was fitted on: its columns,
        dtypes and missing shares become the input schema, and a hash of each of its
        rows (with ``labels``, the Series of labels it was fitted on, when given) lets
        the gate tell a holdout that overlaps the training rows. ``task`` defaults to
        Classification for a model with ``classes_``. ``lineage`` adds your own entries
        to the run's lineage. Raises ``VersionExistsError`` when the version was sealed
        already (a version is immutable). Returns the report ``finish`` writes.
        """
        classes = getattr(model, "classes_", None)
        chosen: Task = task or ("Classification" if classes is not None else "Regression")
        artifact = dumps_model(model)
        metadata = ModelMetadata(
            version=self.version,
            sha256=sha256_hex(artifact),
            created_at=datetime.now(UTC),
            task=chosen,
            label_column=label_column,
            classes=[str(c) for c in classes]
            if chosen == "Classification" and classes is not None
            else None,
            input_schema=input_schema(features),
            estimator=estimator or type(model).__name__,
            training_rows=training_rows,
            training_metrics={k: float(v) for k, v in (metrics or {}).items()},
            lineage=sealing.training_lineage(
                model,
                run=self.run,
                image=self.image,
                git_commit=self.git_commit,
                train_uri=self.train_uri,
                data_window=self.data_window,
            ),
        )
        rows = features if labels is None else features.assign(**{label_column: labels})
        hashed = sealing.hash_rows(rows, [str(c) for c in rows.columns])
        store = open_store(self.output_uri)
        sealed = sealing.seal(store, artifact, metadata, hashed)
        summary = {
            "run": self.run,
            "image": self.image,
            "imageDigest": image_digest(self.image),
            "gitCommit": self.git_commit,
            "dependenciesSha256": metadata.lineage.dependencies_sha256,
            "metadataSha256": sealed.metadata_sha256,
            "dataWindowStart": self.data_window.start.isoformat()
            if self.data_window.start
            else None,
            "dataWindowEnd": self.data_window.end.isoformat() if self.data_window.end else None,
            "trainingRows": str(training_rows),
            "estimator": metadata.estimator,
            **(lineage or {}),
        }
        report = TrainingReport(
            candidate_uri=sealed.uri,
            sha256=metadata.sha256,
            metrics=dict(metadata.training_metrics),
            metadata_uri=store.uri_of(METADATA_FILE),
            metadata_sha256=sealed.metadata_sha256,
            lineage={k: v for k, v in summary.items() if v},
        )
        object.__setattr__(self, "report", report)
        return report

    def finish(self) -> str:
        """Write the saved candidate's report as the termination message; returns it."""
        if self.report is None:
            raise ContractError("nothing to report: call save() first")
        return write_termination_message(self.report, self.env)

    def fail(self, error: BaseException | str) -> str:
        """Write a ``FailureReport`` as the termination message; returns it."""
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        return write_termination_message(FailureReport(error=text), self.env)

    # -- as a context manager: report on the way out -------------------------------------

    def __enter__(self) -> Candidate:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        """Report success, or the failure, and end the process as the contract says."""
        if error is not None:
            self.fail(error)
            sys.exit(1)
        if self.report is None:
            self.fail("the trainer ended without saving a candidate")
            sys.exit(1)
        self.finish()
