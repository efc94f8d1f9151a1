"""What the operator registers with kopf: event handlers only, and so no diff bases."""

from __future__ import annotations

import kopf

from autoretrain.handlers.operator import NoDiffBase


def test_only_event_handlers_are_registered_so_kopf_needs_no_diff_base() -> None:
    # kopf's registry has no public listing; the pinned version's is read here, because
    # NoDiffBase would hide every change from a create/update/resume or daemon handler.
    registry = kopf.get_default_registry()
    assert len(registry._watching.get_all_handlers()) >= 4
    assert registry._changing.get_all_handlers() == []
    assert registry._spawning.get_all_handlers() == []


def test_no_diff_base_keeps_nothing_of_the_object() -> None:
    body = kopf.Body({"metadata": {"name": "churn"}, "spec": {"schedule": "0 2 * * *"}})
    storage = NoDiffBase()
    assert storage.build(body=body) == {}
    assert storage.fetch(body=body) is None
