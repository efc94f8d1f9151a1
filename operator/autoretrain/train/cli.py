"""``python -m autoretrain.train``: the reference training Job.

Reads tabular data (CSV or Parquet; a file or a folder, ``s3://`` or
``file://``), fits a scikit-learn pipeline, and writes ``model.skops`` and
``metadata.json`` into the version folder, sealing the version. It reports
``{"candidateUri", "sha256", "metrics", "metadataUri", "lineage"}`` in the
termination message.

The operator injects the environment: ``AUTORETRAIN_RUN``, ``AUTORETRAIN_VERSION``,
``AUTORETRAIN_OUTPUT_URI`` (the version folder), ``AUTORETRAIN_TRAIN_URI``,
``AUTORETRAIN_HOLDOUT_URI``, ``AUTORETRAIN_DATA_WINDOW_START``/``_END``,
``AUTORETRAIN_IMAGE`` and ``AUTORETRAIN_GIT_COMMIT``. Command-line options
override them, for runs outside the cluster.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from autoretrain.store.datasets import read_table
from autoretrain.store.metadata import (
    METADATA_FILE,
    DataWindow,
    Lineage,
    ModelMetadata,
    dependencies_sha256,
    locked_dependencies,
)
from autoretrain.store.models import dumps_model, sha256_hex
from autoretrain.store.objects import open_store
from autoretrain.store.registry import write_version
from autoretrain.store.termination import write_termination_message
from autoretrain.train import trainer

log = logging.getLogger("autoretrain.train")


def _parameter(text: str) -> tuple[str, Any]:
    name, separator, raw = text.partition("=")
    if not separator or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        return name, json.loads(raw)
    except json.JSONDecodeError:
        return name, raw


def parse_args(argv: Sequence[str] | None, env: Mapping[str, str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m autoretrain.train", description=__doc__)
    parser.add_argument("--label", default=env.get("AUTORETRAIN_LABEL_COLUMN", "label"))
    parser.add_argument(
        "--model", default="logistic_regression", choices=sorted(trainer.ESTIMATORS)
    )
    parser.add_argument("--task", choices=["Classification", "Regression"], default=None)
    parser.add_argument(
        "--exclude", default="", help="comma-separated columns that are not inputs (ids, weights)"
    )
    parser.add_argument(
        "--param", action="append", type=_parameter, default=[], help="estimator NAME=VALUE"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-uri", default=env.get("AUTORETRAIN_TRAIN_URI"))
    parser.add_argument("--holdout-uri", default=env.get("AUTORETRAIN_HOLDOUT_URI") or None)
    parser.add_argument("--output-uri", default=env.get("AUTORETRAIN_OUTPUT_URI"))
    parser.add_argument(
        "--version", default=env.get("AUTORETRAIN_VERSION") or env.get("AUTORETRAIN_RUN")
    )
    args = parser.parse_args(argv)
    for name in ("train_uri", "output_uri", "version"):
        if not getattr(args, name):
            parser.error(f"--{name.replace('_', '-')} (or its AUTORETRAIN_* variable) is required")
    return args


def _window(env: Mapping[str, str]) -> DataWindow:
    def parse(name: str) -> datetime | None:
        text = env.get(name) or ""
        return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None

    return DataWindow(
        start=parse("AUTORETRAIN_DATA_WINDOW_START"), end=parse("AUTORETRAIN_DATA_WINDOW_END")
    )


def run(args: argparse.Namespace, env: Mapping[str, str]) -> dict[str, object]:
    """Train, write the sealed version, and return the termination message."""
    frame = read_table(args.train_uri)
    log.info("training %s on %d rows from %s", args.model, len(frame), args.train_uri)
    exclude = tuple(c.strip() for c in args.exclude.split(",") if c.strip())
    fitted = trainer.train(
        frame, args.label, args.model, args.task, exclude, dict(args.param), args.seed
    )
    metrics: dict[str, float] = {}
    if args.holdout_uri:
        metrics = trainer.evaluate(fitted, read_table(args.holdout_uri), args.label)
    model = dumps_model(fitted.pipeline)
    dependencies = locked_dependencies()
    lineage = Lineage(
        run=env.get("AUTORETRAIN_RUN") or args.version,
        image=env.get("AUTORETRAIN_IMAGE") or None,
        git_commit=env.get("AUTORETRAIN_GIT_COMMIT") or None,
        train_uri=args.train_uri,
        data_window=_window(env),
        dependencies_sha256=dependencies_sha256(dependencies),
        dependencies=dependencies,
    )
    metadata = ModelMetadata(
        version=args.version,
        sha256=sha256_hex(model),
        created_at=datetime.now(UTC),
        task=fitted.task,
        label_column=args.label,
        classes=fitted.classes,
        input_schema=fitted.input_schema,
        estimator=args.model,
        training_rows=fitted.rows,
        training_metrics=metrics,
        lineage=lineage,
    )
    store = open_store(args.output_uri)
    candidate_uri = write_version(store, "", model, metadata)
    log.info("wrote %s (sha256 %s)", candidate_uri, metadata.sha256)
    summary = {
        "run": lineage.run,
        "image": lineage.image,
        "gitCommit": lineage.git_commit,
        "dependenciesSha256": lineage.dependencies_sha256,
        "dataWindowStart": env.get("AUTORETRAIN_DATA_WINDOW_START") or None,
        "dataWindowEnd": env.get("AUTORETRAIN_DATA_WINDOW_END") or None,
    }
    return {
        "candidateUri": candidate_uri,
        "sha256": metadata.sha256,
        "metrics": metrics,
        "metadataUri": store.uri_of(METADATA_FILE),
        "lineage": {k: v for k, v in summary.items() if v},
    }


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Entry point; exit 1 with ``{"error": ...}`` as the message when training fails."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    environment = os.environ if env is None else env
    args = parse_args(argv, environment)
    try:
        message = run(args, environment)
    except Exception as error:  # any failure ends the Job with its reason
        log.exception("training failed")
        write_termination_message({"error": f"{type(error).__name__}: {error}"[:3000]}, environment)
        return 1
    write_termination_message(message, environment)
    return 0


if __name__ == "__main__":
    sys.exit(main())
