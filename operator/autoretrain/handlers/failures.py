"""A failed reconcile recorded on its object: a condition and a Warning Event, not only a log.

Each reconciler runs its work through ``reconciled``, which calls ``record`` when
the work raised, then raises again, so the work queue's bounded backoff still
paces the retries. What the object says is
decided in ``autoretrain.lifecycle.failures``; here it is written. Messages name
the error and what it said, with anything shaped like a credential cut out, and
never the values of a refused spec.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from autoretrain.api.base import ApiModel
from autoretrain.api.common import field_errors, parse_wire
from autoretrain.api.modelretrain import ModelRetrainStatus
from autoretrain.api.run import ModelRetrainRunStatus
from autoretrain.handlers.context import Context
from autoretrain.lifecycle import failures

log = logging.getLogger(__name__)
Obj = dict[str, Any]

_STATUS: dict[str, type[ApiModel]] = {
    "ModelRetrain": ModelRetrainStatus,
    "ModelRetrainRun": ModelRetrainRunStatus,
}
#: An AWS access key id, or a value given to a key that names a secret, a token or a
#: password. No exception should carry one; this is the belt to that braces.
_CREDENTIAL = re.compile(
    r"\b(AKIA|ASIA)[A-Z0-9]{16}\b|(?i:(secret|token|password|credential)[a-z_]*)\s*[:=]\s*\S+"
)
MESSAGE_LIMIT = 1024


def describe(error: BaseException) -> str:
    """What went wrong, in a line fit for a condition and an Event.

    >>> describe(KeyError("containers"))
    "KeyError: 'containers'"
    >>> describe(ValueError("bad aws_secret_access_key=abc123 given"))
    'ValueError: bad aws_[redacted] given'
    """
    text = field_errors(error) if isinstance(error, ValidationError) else str(error)
    text = _CREDENTIAL.sub("[redacted]", text)
    return f"{type(error).__name__}: {text}"[:MESSAGE_LIMIT]


def _conditions(kind: str, obj: Obj) -> tuple[Any, ...]:
    try:
        status = parse_wire(_STATUS[kind], obj.get("status") or {})
    except ValidationError:
        return ()  # a status the models refuse gets its conditions rewritten
    found: tuple[Any, ...] = status.conditions
    return found


def record(ctx: Context, kind: str, obj: Obj, error: BaseException) -> None:
    """Write ``Reconciled=False`` and a Warning Event on ``obj``, when that is news."""
    meta = obj["metadata"]
    message = describe(error)
    conditions, news = failures.failed(
        _conditions(kind, obj), message, ctx.clock(), meta.get("generation", 1)
    )
    if not news:
        return
    try:
        wire = [condition.to_wire() for condition in conditions]
        ctx.kube.patch_status(kind, meta["namespace"], meta["name"], {"conditions": wire})
        ctx.kube.event(obj, "Warning", failures.FAILED, message)
    except Exception as unrecorded:  # the API server may be what fails; the log has it all
        log.warning(
            "%s %s/%s: could not record the failed reconcile: %s",
            kind,
            meta["namespace"],
            meta["name"],
            unrecorded,
        )


def reconciled(
    ctx: Context,
    kind: str,
    namespace: str,
    name: str,
    work: Callable[[Context, Obj], float | None],
) -> float | None:
    """``work`` on the object as it is now, unless it is gone or going.

    Returns the seconds until the object wants reconciling again (None: only on change).
    """
    obj = ctx.kube.get(kind, namespace, name)
    if obj is None or obj["metadata"].get("deletionTimestamp"):
        return None
    try:
        return work(ctx, obj)
    except Exception as error:
        record(ctx, kind, obj, error)
        raise  # the work queue retries with its bounded backoff
