"""``python -m autoretrain.train``: the reference training Job.

Reads tabular data (CSV or Parquet; a file or a folder, ``s3://`` or
``file://``), fits a scikit-learn pipeline, and writes ``model.skops``,
the hashes of its training rows and ``metadata.json`` into the version folder,
sealing the version. It reports a ``TrainingReport`` in the termination message
(with the sha256 of the model and of the metadata), or a ``FailureReport``.

The environment is the pod contract's (``autoretrain.api.pods``): the operator
sets ``AUTORETRAIN_RUN``, ``AUTORETRAIN_VERSION``, ``AUTORETRAIN_OUTPUT_URI``
(the version folder), ``AUTORETRAIN_TRAIN_URI``, ``AUTORETRAIN_HOLDOUT_URI``,
``AUTORETRAIN_DATA_WINDOW_START``/``_END`` and ``AUTORETRAIN_IMAGE``; users may
add ``AUTORETRAIN_LABEL_COLUMN``, ``AUTORETRAIN_GIT_COMMIT``,
``AUTORETRAIN_TRAIN_ESTIMATOR`` (the ``--model``) and ``AUTORETRAIN_TRAIN_PARAMS``
(the estimator's parameters as a Python literal dict, such as
``{"C": 0.5, "class_weight": {0: 1, 1: 5}}``). Command-line options override
them, for runs outside the cluster; ``--param NAME=VALUE`` reads VALUE as a
Python literal too (``class_weight={0: 1, 1: 5}``, ``max_depth=None``), or
as JSON (``true``), or else as text (``solver=saga``), so every parameter keeps
its type.
"""

from __future__ import annotations

import argparse
import ast
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from autoretrain.api.podhelp import environment_help
from autoretrain.api.pods import (
    METADATA_FILE,
    TRAINING_ENV,
    DataRange,
    FailureReport,
    PodEnv,
    TrainingReport,
)
from autoretrain.store import sealing
from autoretrain.store.datasets import read_table
from autoretrain.store.digests import sha256_hex
from autoretrain.store.metadata import ModelMetadata
from autoretrain.store.models import dumps_model
from autoretrain.store.objects import open_store
from autoretrain.store.termination import write_termination_message
from autoretrain.train import trainer

log = logging.getLogger("autoretrain.train")


def literal(text: str) -> Any:
    """A parameter value with its type: a Python literal, else JSON, else the text itself.

    >>> literal("{0: 1, 1: 5}"), literal("None"), literal("true"), literal("saga"), literal("0.5")
    ({0: 1, 1: 5}, None, True, 'saga', 0.5)
    """
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _parameter(text: str) -> tuple[str, Any]:
    name, separator, raw = text.partition("=")
    if not separator or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, literal(raw)


def parameters_from_env(env: Mapping[str, str]) -> dict[str, Any]:
    """``AUTORETRAIN_TRAIN_PARAMS`` as a dict; ``ValueError`` says why it is not one.

    >>> parameters_from_env({"AUTORETRAIN_TRAIN_PARAMS": '{"class_weight": {0: 1, 1: 5}}'})
    {'class_weight': {0: 1, 1: 5}}
    """
    text = (env.get(PodEnv.TRAIN_PARAMS) or "").strip()
    if not text:
        return {}
    value = literal(text)
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ValueError(
            f"{PodEnv.TRAIN_PARAMS} must be a dict of parameter names, such as "
            f'{{"C": 0.5, "class_weight": {{0: 1, 1: 5}}}}; got {text!r}'
        )
    return value


def parse_args(argv: Sequence[str] | None, env: Mapping[str, str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m autoretrain.train",
        description=__doc__,
        epilog=environment_help(TRAINING_ENV)
        + "\n\n"
        + environment_help(
            (
                PodEnv.LABEL_COLUMN,
                PodEnv.GIT_COMMIT,
                PodEnv.TRAIN_ESTIMATOR,
                PodEnv.TRAIN_PARAMS,
                PodEnv.TERMINATION_MESSAGE_PATH,
            ),
            "optional",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--label", default=env.get(PodEnv.LABEL_COLUMN, "label"))
    parser.add_argument(
        "--model",
        default=env.get(PodEnv.TRAIN_ESTIMATOR) or "logistic_regression",
        choices=sorted(trainer.ESTIMATORS),
    )
    parser.add_argument("--task", choices=["Classification", "Regression"], default=None)
    parser.add_argument(
        "--exclude", default="", help="comma-separated columns that are not inputs (ids, weights)"
    )
    parser.add_argument(
        "--param",
        action="append",
        type=_parameter,
        default=[],
        help="estimator NAME=VALUE, VALUE a Python literal (after AUTORETRAIN_TRAIN_PARAMS)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-uri", default=env.get(PodEnv.TRAIN_URI))
    parser.add_argument("--holdout-uri", default=env.get(PodEnv.HOLDOUT_URI) or None)
    parser.add_argument("--output-uri", default=env.get(PodEnv.OUTPUT_URI))
    parser.add_argument("--version", default=env.get(PodEnv.VERSION) or env.get(PodEnv.RUN))
    args = parser.parse_args(argv)
    if args.model not in trainer.ESTIMATORS:  # a default from the environment is not checked
        parser.error(
            f"{PodEnv.TRAIN_ESTIMATOR}={args.model!r} is not one of {sorted(trainer.ESTIMATORS)}"
        )
    try:
        args.params = {**parameters_from_env(env), **dict(args.param)}
    except ValueError as error:
        parser.error(str(error))
    for name in ("train_uri", "output_uri", "version"):
        if not getattr(args, name):
            parser.error(f"--{name.replace('_', '-')} (or its AUTORETRAIN_* variable) is required")
    return args


def run(args: argparse.Namespace, env: Mapping[str, str]) -> TrainingReport:
    """Train, write the sealed version, and return the report for the termination message."""
    frame = read_table(args.train_uri)
    log.info("training %s on %d rows from %s", args.model, len(frame), args.train_uri)
    exclude = tuple(c.strip() for c in args.exclude.split(",") if c.strip())
    fitted = trainer.train(
        frame, args.label, args.model, args.task, exclude, args.params, args.seed
    )
    metrics: dict[str, float] = {}
    if args.holdout_uri:
        metrics = trainer.evaluate(fitted, read_table(args.holdout_uri), args.label)
    model = dumps_model(fitted.pipeline)
    lineage = sealing.training_lineage(
        fitted.pipeline,
        run=env.get(PodEnv.RUN) or args.version,
        image=env.get(PodEnv.IMAGE) or None,
        git_commit=env.get(PodEnv.GIT_COMMIT) or None,
        train_uri=args.train_uri,
        data_window=DataRange.from_env(env),
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
        estimator_parameters=repr(args.params) if args.params else None,
        training_rows=fitted.rows,
        training_metrics=metrics,
        lineage=lineage,
    )
    # The rows the model learnt from: the labelled ones, over its inputs and the label.
    columns = [c.name for c in fitted.input_schema] + [args.label]
    rows = sealing.hash_rows(frame[frame[args.label].notna()], columns)
    store = open_store(args.output_uri)
    sealed = sealing.seal(store, model, metadata, rows)
    log.info("wrote %s (sha256 %s)", sealed.uri, metadata.sha256)
    summary = {
        "run": lineage.run,
        "image": lineage.image,
        "imageDigest": lineage.image_digest,
        "gitCommit": lineage.git_commit,
        "dependenciesSha256": lineage.dependencies_sha256,
        "metadataSha256": sealed.metadata_sha256,
        "trainingRows": str(fitted.rows),
        "estimator": args.model,
        "dataWindowStart": env.get(PodEnv.DATA_WINDOW_START) or None,
        "dataWindowEnd": env.get(PodEnv.DATA_WINDOW_END) or None,
    }
    return TrainingReport(
        candidate_uri=sealed.uri,
        sha256=metadata.sha256,
        metrics=metrics,
        metadata_uri=store.uri_of(METADATA_FILE),
        metadata_sha256=sealed.metadata_sha256,
        lineage={k: v for k, v in summary.items() if v},
    )


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Entry point; exit 1 with a ``FailureReport`` as the message when training fails."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    environment = os.environ if env is None else env
    args = parse_args(argv, environment)
    try:
        write_termination_message(run(args, environment), environment)
    except Exception as error:  # any failure ends the Job with its reason
        log.exception("training failed")
        failure = FailureReport(error=f"{type(error).__name__}: {error}")
        write_termination_message(failure, environment)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
