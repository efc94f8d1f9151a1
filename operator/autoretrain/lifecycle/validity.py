"""A spec the operator cannot act on, said in a condition instead of a traceback.

The API server admits what the CRD's schema and CEL rules allow. What it cannot
judge reaches the operator, which decides here:

- A spec the models refuse although the API server took it (a CRD older or
  newer than the operator): ``InvalidSpec=True`` (reason ``InvalidSpec``) with
  each field and why, and no run starts.
- A time zone the operator cannot load, or a schedule croniter cannot step (a
  month field whose step leaves only short months, like ``0 0 31 4/5 *``):
  ``InvalidSpec=True`` with reason ``UnknownTimeZone`` or ``ScheduleNeverFires``.
  No scheduled run starts; the trigger annotation still starts one.
- A Job the API server refuses. The pod template the user writes passes through
  to the training Job, so the API server judges it only then; the run ends
  Failed (``TrainingJobInvalid``, ``GateJobInvalid``) with the API server's
  words, its fields spelled as in the ModelRetrain. Retrying could not help:
  the run follows its own copy of the template.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from autoretrain.api.common import Condition
from autoretrain.api.run import ModelRetrainRunStatus
from autoretrain.lifecycle import schedule as cron
from autoretrain.lifecycle.causes import Cause
from autoretrain.lifecycle.decision import RunContext, RunDecision, finish

SPEC_CONDITION = "InvalidSpec"
SPEC_VALID = "SpecValid"


@dataclass(frozen=True)
class Problem(Cause):
    """Why the spec cannot be acted on; the message names the fields."""


def schedule_problem(schedule: str | None, time_zone: str | None, now: datetime) -> Problem | None:
    """Why the operator cannot follow ``schedule`` in ``time_zone``, or None.

    >>> from datetime import UTC
    >>> now = datetime(2026, 1, 1, tzinfo=UTC)
    >>> schedule_problem("0 2 * * *", "Europe/Berlin", now) is None
    True
    >>> schedule_problem("0 0 31 4/5 *", None, now).reason
    'ScheduleNeverFires'
    >>> schedule_problem("0 2 * * *", "Mars/Olympus_Mons", now).reason
    'UnknownTimeZone'
    """
    if schedule is None:
        return None
    try:
        ZoneInfo(time_zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return Problem(
            "UnknownTimeZone",
            f"spec.timeZone: the operator's time zone database has no zone {time_zone}",
        )
    try:
        cron.next_tick(schedule, time_zone, now)
        cron.last_tick(schedule, time_zone, now - timedelta(days=1), now)
    except (ValueError, OverflowError, KeyError) as error:  # croniter's errors are ValueErrors
        return Problem(
            "ScheduleNeverFires",
            f"spec.schedule: {schedule} cannot be stepped ({type(error).__name__}): no month "
            "of the schedule has its day of month",
        )
    return None


def spec_condition(problem: Problem | None, now: datetime, generation: int) -> Condition:
    """``InvalidSpec``: True with the problem, or False when the spec can be acted on."""
    if problem is None:
        return Condition.of(
            SPEC_CONDITION, False, SPEC_VALID, "the spec can be acted on", now, generation
        )
    return Condition.of(SPEC_CONDITION, True, problem.reason, problem.message, now, generation)


JobStep = Literal["training", "gate"]
_JOB_REFUSED = {"training": "TrainingJobInvalid", "gate": "GateJobInvalid"}
#: What ApiKube puts before the API server's own words: "POST /apis/...: 422 ".
_REQUEST = re.compile(r"^[A-Z]+ [^ ]+: [0-9]{3} ")


def as_written(step: JobStep, message: str) -> str:
    """The API server's refusal of a Job, with the pod template's fields named as the
    ModelRetrain spells them.

    >>> as_written("training", 'POST /apis/batch/v1/namespaces/ml/jobs: 422 Job.batch "c" '
    ...     'is invalid: spec.template.spec.containers[0].image: Required value')
    'Job.batch "c" is invalid: spec.training.template.spec.containers[0].image: Required value'
    """
    text = _REQUEST.sub("", message)
    return text.replace("spec.template.", "spec.training.template.") if step == "training" else text


def job_refused(
    ctx: RunContext, status: ModelRetrainRunStatus, step: JobStep, message: str
) -> RunDecision:
    """The run ends Failed: the API server refused its ``step`` Job, which therefore never ran."""
    started = status.replace(started_at=status.started_at or ctx.now)
    return finish(
        started,
        ctx,
        "Failed",
        _JOB_REFUSED[step],
        f"the API server refused the {step} Job: {as_written(step, message)}; nothing ran, and "
        "serving was not changed",
    )
