"""``kubectl autoretrain rollback``: back to an earlier blessed version, consistently.

The champion pointer (the registry's create-only records) and the serving
Deployment must name the same model, as after a promotion. The rollback takes
the promotion's order and its guards:

1. **Refuse** while a run is active (its gate baseline and its promotion assume
   the current champion), when there is no champion, and when the target is not
   *blessed*: a sealed version whose ``gate-report.json`` says Passed for exactly
   its artifact. A version the gate never passed is never served by a rollback.
2. **Point the serving Deployment** at the target (the operator's own strategic
   merge patch) and wait until it rolled out. If it does not, the previous model
   is restored and the pointer never moves.
3. **Move the pointer** with a ``Rollback`` record, create-only and conditional on
   the record the rollback started from. If anyone moved it meanwhile, serving is
   pointed back at whatever the champion is now.

Every outcome (RolledBack, Refused, Failed) is recorded where people look: an
Event on the ModelRetrain and its ``autoretrain.io/last-rollback`` annotation
(JSON); a successful one also in the registry's champion history, with its
reason. A rollback interrupted between steps 2 and 3 is finished by running it
again: step 2 is then a no-op.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError

from autoretrain.api.common import ModelVersionRef
from autoretrain.api.modelretrain import ModelRetrain
from autoretrain.api.pods import GATE_REPORT_FILE, version_key
from autoretrain.cli.connection import Connection
from autoretrain.gates.report import GateReport
from autoretrain.handlers import observe, stores
from autoretrain.kube.manifests import serving_patch
from autoretrain.store.errors import ConcurrentUpdateError, ObjectNotFoundError
from autoretrain.store.registry import ChampionRecord, ModelRegistry

#: The latest rollback's outcome, as JSON, on the ModelRetrain.
LAST_ROLLBACK_ANNOTATION = "autoretrain.io/last-rollback"
POLL_SECONDS = 1.0


class RollbackRefused(Exception):
    """The rollback was not attempted; nothing changed. The message says why."""


class RollbackFailed(Exception):
    """The rollback was attempted and undone; the champion serves as before."""


def why_not_blessed(registry: ModelRegistry, version: str) -> str | None:
    """None when the offline gate passed exactly this version's artifact, else why not."""
    try:
        metadata = registry.metadata(version)
    except ObjectNotFoundError:
        return f"version {version} does not exist (no sealed metadata.json)"
    try:
        raw = registry.store.get(version_key(version) + GATE_REPORT_FILE)
    except ObjectNotFoundError:
        return f"the offline gate never judged {version} (it has no {GATE_REPORT_FILE})"
    try:
        report = GateReport.model_validate_json(raw)
    except ValidationError:
        return f"the gate report of {version} is not a valid report"
    if report.verdict != "Passed":
        return f"the offline gate rejected {version}: {report.reason}"
    if report.candidate.sha256 != metadata.sha256:
        return f"the gate report of {version} judged another artifact than the one stored"
    return None


def earlier_blessed(registry: ModelRegistry, history: list[ChampionRecord]) -> str | None:
    """The most recent former champion the gate passed, other than the current one."""
    current = history[-1].version if history else None
    for record in reversed(history):
        if record.version != current and why_not_blessed(registry, record.version) is None:
            return record.version
    return None


@dataclass(frozen=True)
class Rollback:
    """One rollback of one ModelRetrain, by one person, for one reason."""

    conn: Connection
    name: str
    reason: str
    by: str
    timeout: float = 300.0
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    sleep: Callable[[float], None] = time.sleep

    def run(self, to: str | None) -> ChampionRecord:
        model = self.conn.modelretrain(self.name)
        try:
            return self._run(model, to)
        except RollbackRefused as refused:
            self._record(model, "Refused", to, None, str(refused))
            raise
        except RollbackFailed as failed:
            self._record(model, "Failed", to, None, str(failed))
            raise

    def _run(self, model: ModelRetrain, to: str | None) -> ChampionRecord:
        active = [r for r in self.conn.runs(self.name) if not r.current_status.finished]
        if active:
            run = active[0]
            raise RollbackRefused(
                f"run {run.name} is {run.current_status.phase}: abort it first "
                f"(kubectl autoretrain abort {self.name}) or let it finish"
            )
        registry = stores.registry_for(self.conn.kube, self.conn.namespace, model.spec)
        history = registry.history()
        if not history:
            raise RollbackRefused("there is no champion yet: nothing to roll back from")
        current = history[-1]
        target = to or earlier_blessed(registry, history)
        if target is None:
            raise RollbackRefused("no earlier champion passed the offline gate")
        if target == current.version:
            raise RollbackRefused(f"{target} is the champion already")
        why_not = why_not_blessed(registry, target)
        if why_not is not None:
            raise RollbackRefused(f"{why_not}; only versions the gate passed are served")
        metadata = registry.metadata(target)
        wanted = ModelVersionRef(
            version=target, uri=registry.model_uri(target), sha256=metadata.sha256
        )
        previous = ModelVersionRef(
            version=current.version, uri=current.model_uri, sha256=current.sha256
        )
        self._serve(model, wanted, restore=previous)
        try:
            record = registry.promote(
                target,
                expected_sequence=current.sequence,
                run=self.by,
                reason=self.reason,
                action="Rollback",
            )
        except ConcurrentUpdateError as error:
            now = registry.champion()
            if now is not None:
                restore = ModelVersionRef(version=now.version, uri=now.model_uri, sha256=now.sha256)
                self._patch(model, restore)
            raise RollbackFailed(
                f"the champion moved while rolling back ({error}); serving follows the "
                f"champion {now.version if now else 'none'}"
            ) from error
        message = f"champion {current.version} -> {target}: {self.reason}"
        self._record(model, "RolledBack", target, current.version, message)
        return record

    def _patch(self, model: ModelRetrain, ref: ModelVersionRef) -> None:
        name = model.spec.serving.deployment_ref.name
        self.conn.kube.patch(
            "Deployment", self.conn.namespace, name, serving_patch(model.spec, ref)
        )

    def _serve(
        self, model: ModelRetrain, wanted: ModelVersionRef, restore: ModelVersionRef
    ) -> None:
        """Point serving at ``wanted`` and wait for the rollout; restore ``restore`` if it fails."""
        name = model.spec.serving.deployment_ref.name
        if self.conn.raw("Deployment", name) is None:
            raise RollbackRefused(f"the serving Deployment {name} does not exist")
        self._patch(model, wanted)
        deadline = time.monotonic() + self.timeout
        while True:
            found = self.conn.raw("Deployment", name)
            state = observe.deployment_state(model.spec, found) if found else None
            if state is not None and state.model == wanted and state.rolled_out:
                return
            if state is None or state.deadline_exceeded or time.monotonic() > deadline:
                self._patch(model, restore)
                raise RollbackFailed(
                    f"Deployment {name} did not roll out {wanted.version} within "
                    f"{self.timeout:.0f}s; {restore.version} was restored"
                )
            self.sleep(POLL_SECONDS)

    def _record(
        self,
        model: ModelRetrain,
        outcome: str,
        to: str | None,
        previous: str | None,
        message: str,
    ) -> None:
        """The outcome on the ModelRetrain: an annotation that stays and an Event."""
        note = {
            "outcome": outcome,
            "to": to,
            "from": previous,
            "by": self.by,
            "reason": self.reason,
            "message": message,
            "at": self.clock().strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        text = json.dumps({k: v for k, v in note.items() if v is not None}, separators=(",", ":"))
        self.conn.kube.patch(
            "ModelRetrain",
            self.conn.namespace,
            self.name,
            {"metadata": {"annotations": {LAST_ROLLBACK_ANNOTATION: text}}},
        )
        regarding = self.conn.raw("ModelRetrain", self.name)
        if regarding is not None:
            kind = "Normal" if outcome == "RolledBack" else "Warning"
            reason = {"RolledBack": "RolledBack", "Refused": "RollbackRefused"}.get(
                outcome, "RollbackFailed"
            )
            self.conn.kube.event(regarding, kind, reason, f"{message} (by {self.by})")
