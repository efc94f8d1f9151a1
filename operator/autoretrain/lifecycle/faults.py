"""What a run does when its artifact store fails: end cleanly, or hold a promotion.

Before Promoting nothing has changed what serves, so a run whose registry cannot
be read (missing credentials, refused credentials, an endpoint that did not
answer after the client's retries, a missing bucket) ends Failed with the store's
reason, and stops what it started. In Promoting the stable Deployment already
runs the candidate while the champion pointer has not moved, so giving up would
leave the two disagreeing: the run holds, says why, and tries again.
"""

from __future__ import annotations

from autoretrain.api.common import find_condition
from autoretrain.api.naming import gate_job_name, training_job_name
from autoretrain.api.run import ModelRetrainRunStatus
from autoretrain.lifecycle.actions import DeleteCanary, Emit, RunAction, StopJob
from autoretrain.lifecycle.decision import RunContext, RunDecision, condition, finish
from autoretrain.lifecycle.observed import StoreFault

STORE_CONDITION = "ArtifactStoreReady"
#: How soon a held promotion looks at the store again (botocore has retried already).
STORE_RETRY_SECONDS = 10.0


def store_failed(ctx: RunContext, status: ModelRetrainRunStatus, fault: StoreFault) -> RunDecision:
    """The run's answer to a store it cannot use, in the phase it is in.

    A run in Training stops its training Job, one in Gating its gate Job, one in
    Canary removes the canary; each ends Failed with ``fault.reason``. A run in
    Promoting records ``ArtifactStoreReady=False`` (with an event when that is
    news) and looks again in ``STORE_RETRY_SECONDS``.
    """
    marked = status.replace(
        conditions=condition(status, ctx, STORE_CONDITION, False, fault.reason, fault.message)
    )
    if status.phase == "Promoting":
        before = find_condition(status.conditions, STORE_CONDITION)
        news = before is None or before.status != "False" or before.reason != fault.reason
        note = Emit(
            "Warning", fault.reason, f"promotion waits for the artifact store: {fault.message}"
        )
        return RunDecision(marked, (note,) if news else (), STORE_RETRY_SECONDS)
    cleanups: dict[str, tuple[RunAction, ...]] = {
        "Training": (StopJob(training_job_name(ctx.name)),),
        "Gating": (StopJob(gate_job_name(ctx.name)),),
        "Canary": (DeleteCanary(),),
    }
    cleanup = cleanups.get(status.phase, ())
    outcome = (
        "the canary was removed and the champion keeps serving"
        if status.phase == "Canary"
        else "serving was not changed"
    )
    return finish(
        marked, ctx, "Failed", fault.reason, f"artifact store: {fault.message}; {outcome}", cleanup
    )


def store_answered(ctx: RunContext, status: ModelRetrainRunStatus) -> ModelRetrainRunStatus:
    """``status`` with ``ArtifactStoreReady`` back to True, if a fault had set it False."""
    before = find_condition(status.conditions, STORE_CONDITION)
    if before is None or before.status == "True":
        return status
    return status.replace(
        conditions=condition(
            status, ctx, STORE_CONDITION, True, "ArtifactStoreAvailable", "the registry answers"
        )
    )
