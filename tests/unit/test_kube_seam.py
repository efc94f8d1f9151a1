"""The Kubernetes seam: one kinds table, the same kinds in ApiKube and FakeKube, every verb.

ApiKube is exercised through the real ``ApiClient`` against a recording HTTP
endpoint, so these tests see the requests it puts on the wire; what the API
server does with them is the cluster tiers' business.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from autoretrain.kube import kinds
from autoretrain.kube.client import ApiKube, Kube, KubeApiError
from autoretrain.kube.fake import FakeKube
from autoretrain.kube.kinds import KINDS, UnknownKindError
from tests.support.recording_apiserver import RecordingServer, recording_api

Verb = Callable[[Kube, str], object]
REGARDING = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ml"}}

#: Every verb of the seam, called on one kind. Names are ones the fake and the
#: recorder both answer without an error of their own.
VERBS: dict[str, Verb] = {
    "get": lambda kube, kind: kube.get(kind, "ml", "some"),
    "list": lambda kube, kind: kube.list(kind, "ml", "a=b"),
    "create": lambda kube, kind: kube.create(
        kind, "ml", {"metadata": {"name": "made"}, "spec": {"x": 1}}
    ),
    "patch": lambda kube, kind: kube.patch(kind, "ml", "missing", {"metadata": {"labels": {}}}),
    "patch_status": lambda kube, kind: kube.patch_status(kind, "ml", "missing", {"x": 1}),
    "delete": lambda kube, kind: kube.delete(kind, "ml", "missing"),
}
#: Kinds an operator might plausibly ask for; the table decides which work.
CANDIDATE_KINDS = sorted({*KINDS, "Service", "ConfigMap", "Namespace", "job", "Secrets"})


@pytest.fixture
def recorded() -> Iterator[tuple[RecordingServer, ApiKube]]:
    with recording_api() as (server, api):
        yield server, ApiKube(api)


def _accepted(kube: Kube, kind: str) -> dict[str, bool]:
    """verb -> whether the seam knew ``kind`` for it (other errors still mean it did)."""
    known = {}
    for verb, call in VERBS.items():
        try:
            call(kube, kind)
            known[verb] = True
        except UnknownKindError:
            known[verb] = False
        except (KubeApiError, ValueError):
            known[verb] = True  # it got past the table: a 404, or no status subresource
    return known


def test_api_kube_and_fake_kube_accept_exactly_the_same_kinds(
    recorded: tuple[RecordingServer, ApiKube],
) -> None:
    _, api_kube = recorded
    for kind in CANDIDATE_KINDS:
        real, fake = _accepted(api_kube, kind), _accepted(FakeKube(), kind)
        assert real == fake, kind
        # A kind is known for every verb or for none: no blind spots.
        assert set(real.values()) == {kind in KINDS}, kind


@pytest.mark.parametrize("verb", sorted(VERBS))
@pytest.mark.parametrize("make", [FakeKube, "api"], ids=["FakeKube", "ApiKube"])
def test_a_kind_outside_the_table_fails_naming_it_and_sends_nothing(
    verb: str, make: Any, recorded: tuple[RecordingServer, ApiKube]
) -> None:
    server, api_kube = recorded
    kube: Kube = api_kube if make == "api" else make()
    with pytest.raises(UnknownKindError, match="'ConfigMap' is not in autoretrain's Kubernetes"):
        VERBS[verb](kube, "ConfigMap")
    assert server.requests == []


#: Writes name their field manager, so managedFields say who owns what.
MANAGER = {"fieldManager": "autoretrain-operator"}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_is_addressed_by_its_group_version_and_plural(
    kind: str, recorded: tuple[RecordingServer, ApiKube]
) -> None:
    server, kube = recorded
    entry = KINDS[kind]
    root = f"/apis/{entry.group}/{entry.version}" if entry.group else "/api/v1"
    collection = f"{root}/namespaces/ml/{entry.plural}"

    assert kube.get(kind, "ml", "one") == {"metadata": {"name": "one"}, "found": True}
    assert kube.list(kind, "ml", "app=churn") == [
        {"metadata": {"name": "listed"}, "apiVersion": entry.api_version, "kind": kind}
    ]
    kube.create(kind, "ml", {"metadata": {"name": "new"}})
    kube.patch(kind, "ml", "one", {"metadata": {"annotations": {"a": None}}})
    kube.delete(kind, "ml", "one")
    sent = [(r.method, r.path, r.query, r.content_type) for r in server.requests]
    assert sent == [
        ("GET", f"{collection}/one", {}, None),
        ("GET", collection, {"labelSelector": "app=churn"}, None),
        ("POST", collection, MANAGER, "application/json"),
        ("PATCH", f"{collection}/one", MANAGER, entry.patch_type),
        ("DELETE", f"{collection}/one", {}, "application/json"),
    ]
    patch, delete = server.requests[3].body, server.requests[4].body
    assert patch == {"metadata": {"annotations": {"a": None}}}  # null deletes, so it is sent
    assert delete["propagationPolicy"] == "Background"


def test_patches_are_strategic_for_built_in_kinds_and_json_merge_for_ours() -> None:
    types = {kind: entry.patch_type for kind, entry in KINDS.items()}
    assert types["Deployment"] == types["Job"] == "application/strategic-merge-patch+json"
    assert types["ModelRetrainRun"] == types["ModelRetrain"] == "application/merge-patch+json"


@pytest.mark.parametrize("kind", sorted(k for k, e in KINDS.items() if e.has_status))
def test_status_goes_through_the_subresource_as_a_merge_patch(
    kind: str, recorded: tuple[RecordingServer, ApiKube]
) -> None:
    server, kube = recorded
    kube.patch_status(kind, "ml", "one", {"phase": "Failed"})
    (request,) = server.requests
    assert request.path == KINDS[kind].path("ml", "one", "status")
    assert request.content_type == "application/merge-patch+json"
    assert request.body == {"status": {"phase": "Failed"}}


@pytest.mark.parametrize("kind", sorted(k for k, e in KINDS.items() if not e.has_status))
def test_kinds_without_a_status_subresource_refuse_a_status_patch_in_both(
    kind: str, recorded: tuple[RecordingServer, ApiKube]
) -> None:
    server, kube = recorded
    for seam in (kube, FakeKube()):
        with pytest.raises(ValueError, match="no status subresource"):
            seam.patch_status(kind, "ml", "one", {})
    assert server.requests == []


def test_the_api_server_s_answers_are_mapped_as_the_operator_relies_on(
    recorded: tuple[RecordingServer, ApiKube],
) -> None:
    server, kube = recorded
    assert kube.get("Secret", "ml", "missing") is None
    assert kube.patch_status("ModelRetrainRun", "ml", "missing", {}) == {}
    kube.delete("Job", "ml", "missing")
    adopted = kube.create("Job", "ml", {"metadata": {"name": "taken"}})
    assert adopted == {"metadata": {"name": "taken"}, "found": True}  # the existing one
    with pytest.raises(KubeApiError, match="403") as refused:
        kube.get("Secret", "ml", "forbidden")
    assert refused.value.status == 403
    assert "is forbidden: User cannot do that" in str(refused.value)
    assert "HTTP response headers" not in str(refused.value)  # the message only
    with pytest.raises(KubeApiError) as missing:
        kube.patch("Deployment", "ml", "missing", {"spec": {}})
    assert missing.value.status == 404
    assert all(r.path.startswith(("/api/v1/", "/apis/")) for r in server.requests)


def test_the_client_s_credentials_go_with_every_request(
    recorded: tuple[RecordingServer, ApiKube],
) -> None:
    server, kube = recorded
    kube.get("Pod", "ml", "p")
    kube.create("Event", "ml", {"metadata": {"name": "e"}})
    assert {r.authorization for r in server.requests} == {"Bearer test-token"}


def test_events_are_core_events_about_the_object(
    recorded: tuple[RecordingServer, ApiKube],
) -> None:
    server, kube = recorded
    regarding = {
        "apiVersion": "autoretrain.io/v1alpha1",
        "kind": "ModelRetrainRun",
        "metadata": {"name": "run-1", "namespace": "ml", "uid": "u-1", "resourceVersion": "7"},
    }
    kube.event(regarding, "Warning", "TrainingFailed", "x" * 2000)
    (request,) = server.requests
    assert (request.method, request.path) == ("POST", "/api/v1/namespaces/ml/events")
    body = request.body
    assert body["involvedObject"] == {
        "apiVersion": "autoretrain.io/v1alpha1",
        "kind": "ModelRetrainRun",
        "name": "run-1",
        "namespace": "ml",
        "uid": "u-1",
        "resourceVersion": "7",
    }
    assert (body["type"], body["reason"], len(body["message"])) == (
        "Warning",
        "TrainingFailed",
        1024,
    )
    assert body["metadata"]["name"].startswith("run-1.")

    fake = FakeKube()
    fake.event(regarding, "Warning", "TrainingFailed", "x" * 2000)
    (stored,) = fake.objects("Event", "ml")
    assert {k: stored[k] for k in ("involvedObject", "type", "reason", "message")} == {
        k: body[k] for k in ("involvedObject", "type", "reason", "message")
    }


def test_an_event_the_api_server_refuses_is_logged_not_raised(
    recorded: tuple[RecordingServer, ApiKube], caplog: pytest.LogCaptureFixture
) -> None:
    _, kube = recorded
    forbidden = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ml"}}
    original = kinds.event_body

    def named_forbidden(*args: Any) -> dict[str, Any]:
        body = original(*args)
        body["metadata"]["name"] = "forbidden"
        return body

    with pytest.MonkeyPatch.context() as patch, caplog.at_level(logging.WARNING):
        patch.setattr("autoretrain.kube.client.event_body", named_forbidden)
        kube.event(forbidden, "Normal", "Started", "hello")
    assert "event Started on forbidden not recorded" in caplog.text
