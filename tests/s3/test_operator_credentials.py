"""The operator opens a ModelRetrain's S3 registry with the Secret it names, and only with it.

The Secret lives in a FakeKube as the API server stores it (base64 ``data``);
the registry is a real S3 API (moto's server). For the refused-credential cases
the server checks signatures and permissions against its IAM users, as a real
endpoint does. No failure may crash a reconcile or show a credential anywhere.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import urllib.request
import uuid
from collections.abc import Iterator

import boto3
import pytest

from autoretrain.analysis.provider import NullProvider
from autoretrain.handlers import modelretrains, runs
from autoretrain.handlers.context import Context
from autoretrain.handlers.stores import registry_for
from autoretrain.kube.fake import FakeKube
from autoretrain.kube.recent import RecentReads
from autoretrain.store.objects import open_store
from autoretrain.store.registry import ModelRegistry
from autoretrain.store.s3client import make_s3_client
from tests.support import kube_world as world
from tests.support.kube_world import NS
from tests.support.lifecycle import spec, spec_wire
from tests.support.registry import publish

#: Values that must never show up outside the Secret.
UNKNOWN_KEY_ID = "AKIADISTINCTIVEKEYID"
WRONG_SECRET = "Distinctive/Wrong+Secret0123456789abcdefgh"


@pytest.fixture
def operator_env_points_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator's own environment knows nothing of the S3 server the Secret names."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)


def _settings(endpoint: str, key_id: str, secret: str) -> dict[str, str]:
    return {
        # A host name, as a MinIO Service would have, not an IP address.
        "AWS_ENDPOINT_URL": endpoint.replace("127.0.0.1", "localhost"),
        "AWS_ACCESS_KEY_ID": key_id,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def test_the_secret_s_endpoint_and_keys_reach_the_registry(
    bucket: str, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube = FakeKube()
    world.secret(kube, "s3", _settings(s3_endpoint, "test-access-key", "test-secret-key"))
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    wanted = spec(artifacts={"uri": f"s3://{bucket}/churn/", "secretRef": {"name": "s3"}})
    registry = registry_for(kube, NS, wanted)
    assert registry.champion() is None
    publish(registry, "v1", 1)
    registry.promote("v1")

    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-access-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret-key")
    keys = make_s3_client().list_objects_v2(Bucket=bucket, Prefix="churn/")["Contents"]
    assert any(item["Key"].startswith("churn/versions/v1/") for item in keys)


# -- the reconcilers on S3 ---------------------------------------------------------


def _ctx(kube: FakeKube) -> Context:
    return Context(kube=kube, metrics=NullProvider(), clock=world.clock_at())


def _model_retrain(kube: FakeKube, bucket: str) -> Context:
    world.serving_deployment(kube)
    artifacts = {"uri": f"s3://{bucket}/churn/", "secretRef": {"name": "churn-s3"}}
    world.model_retrain(kube, spec_wire(artifacts))
    return _ctx(kube)


def _to_promoting(kube: FakeKube, ctx: Context, registry: ModelRegistry) -> str:
    modelretrains.reconcile(ctx, NS, "churn")
    name = world.only_run(kube)
    runs.reconcile(ctx, NS, name)
    world.train(kube, registry, f"{name}-train", name)
    runs.reconcile(ctx, NS, name)
    world.gate(kube, f"{name}-gate")
    runs.reconcile(ctx, NS, name)
    assert world.run_status(kube, name)["phase"] == "Promoting"
    world.roll_out(kube, "server")
    return name


def test_a_run_promotes_through_s3_and_holds_while_its_secret_is_gone(
    bucket: str, s3_endpoint: str, operator_env_points_elsewhere: None
) -> None:
    kube = FakeKube(clock=world.clock_at())
    settings = _settings(s3_endpoint, "test-access-key", "test-secret-key")
    world.secret(kube, "churn-s3", settings)
    ctx = _model_retrain(kube, bucket)
    registry = ModelRegistry(open_store(f"s3://{bucket}/churn/", settings))
    name = _to_promoting(kube, ctx, registry)

    kube.delete("Secret", NS, "churn-s3")
    assert runs.reconcile(ctx, NS, name) == pytest.approx(10.0)
    status = world.run_status(kube, name)
    assert status["phase"] == "Promoting"
    assert world.conditions(status)["ArtifactStoreReady"] == ("False", "CredentialsError")
    assert registry.champion() is None  # the pointer waits with the run

    world.secret(kube, "churn-s3", settings)
    runs.reconcile(ctx, NS, name)
    status = world.run_status(kube, name)
    assert (status["phase"], status["reason"]) == ("Succeeded", "Promoted")
    champion = registry.champion()
    assert champion is not None and champion.version == name


def test_the_operator_never_falls_back_to_its_own_credentials(bucket: str) -> None:
    # The bucket fixture gave the operator's environment working credentials.
    kube = FakeKube(clock=world.clock_at())
    world.secret(kube, "churn-s3", {"AWS_ENDPOINT_URL": "http://elsewhere:9000"})
    ctx = _model_retrain(kube, bucket)
    modelretrains.reconcile(ctx, NS, "churn")
    name = world.only_run(kube)
    runs.reconcile(ctx, NS, name)
    status = world.run_status(kube, name)
    assert (status["phase"], status["reason"]) == ("Failed", "CredentialsError")
    assert "has no AWS_ACCESS_KEY_ID and no AWS_SECRET_ACCESS_KEY" in status["message"]


# -- a server that checks credentials --------------------------------------------


def _authentication(endpoint: str, initial_unchecked: str) -> None:
    """moto checks every request against its IAM users once this is "0"; "inf" turns it off."""
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth",
        data=initial_unchecked.encode(),
        method="POST",
        headers={"Content-Type": "text/plain"},  # a form body would be parsed away
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.status == 200


@pytest.fixture
def identities(s3_endpoint: str, bucket: str) -> Iterator[dict[str, tuple[str, str]]]:
    """An identity allowed to use S3 and one that is not, with authentication enforced."""
    iam = boto3.client(
        "iam",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="test-access-key",
        aws_secret_access_key="test-secret-key",
    )
    found = {}
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
    for role in ("operator", "stranger"):
        user = f"{role}-{uuid.uuid4().hex[:8]}"
        iam.create_user(UserName=user)
        if role == "operator":
            iam.put_user_policy(UserName=user, PolicyName="s3", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        found[role] = (key["AccessKeyId"], key["SecretAccessKey"])
    _authentication(s3_endpoint, "0")
    try:
        yield found
    finally:
        _authentication(s3_endpoint, "inf")


@contextlib.contextmanager
def _hanging_up() -> Iterator[tuple[str, list[int]]]:
    """An endpoint that accepts every connection and closes it at once; counts them."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    accepted: list[int] = []
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                connection, _ = listener.accept()
                accepted.append(1)  # before the close, which is what the client waits for
                connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    finally:
        done.set()
        thread.join()
        listener.close()


CASES = {
    "wrong secret": (
        "operator",
        WRONG_SECRET,
        None,
        "ArtifactStoreAccessDenied",
        "SignatureDoesNotMatch",
    ),
    "unknown key": (
        UNKNOWN_KEY_ID,
        WRONG_SECRET,
        None,
        "ArtifactStoreAccessDenied",
        "InvalidAccessKeyId",
    ),
    "no permission": ("stranger", None, None, "ArtifactStoreAccessDenied", "AccessDenied"),
    "no bucket": ("operator", None, "no-such-bucket", "ArtifactBucketNotFound", "NoSuchBucket"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_refused_credentials_fail_the_run_and_flag_the_model_retrain(
    case: str,
    bucket: str,
    s3_endpoint: str,
    identities: dict[str, tuple[str, str]],
    operator_env_points_elsewhere: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    who, secret_value, other_bucket, reason, code = CASES[case]
    key_id, real_secret = identities.get(who, (who, ""))
    settings = _settings(s3_endpoint, key_id, secret_value or real_secret)
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="autoretrain")
    kube = FakeKube(clock=world.clock_at())
    world.secret(kube, "churn-s3", settings)
    ctx = _model_retrain(kube, other_bucket or bucket)

    modelretrains.reconcile(ctx, NS, "churn")
    parent = kube.get("ModelRetrain", NS, "churn")
    assert parent is not None
    assert world.conditions(parent["status"])["ArtifactStoreReady"] == ("False", reason)
    name = world.only_run(kube)
    assert runs.reconcile(ctx, NS, name) is None
    status = world.run_status(kube, name)
    assert (status["phase"], status["reason"]) == ("Failed", reason)
    assert code in status["message"] and "localhost" in status["message"]
    assert f"s3://{other_bucket or bucket}/churn/" in status["message"]
    _assert_nothing_shows(
        kube, caplog, [settings["AWS_ACCESS_KEY_ID"], settings["AWS_SECRET_ACCESS_KEY"]]
    )


def test_model_retrains_share_a_recent_secret_and_a_refused_copy_is_read_again(
    bucket: str,
    s3_endpoint: str,
    identities: dict[str, tuple[str, str]],
    operator_env_points_elsewhere: None,
) -> None:
    kube = FakeKube(clock=world.clock_at())
    counted = world.CountedReads(kube)
    # Copies never expire here: only a refusal makes the operator read the Secret again.
    recent = RecentReads(counted, max_age=3600.0)
    world.secret(kube, "churn-s3", _settings(s3_endpoint, *identities["stranger"]))
    ctx = _model_retrain(kube, bucket)
    ctx.recent = recent
    modelretrains.reconcile(ctx, NS, "churn")
    assert _store_ready(kube, "churn") == ("False", "ArtifactStoreAccessDenied")

    kube.delete("Secret", NS, "churn-s3")  # rotated to the keys that may use the bucket
    world.secret(kube, "churn-s3", _settings(s3_endpoint, *identities["operator"]))
    modelretrains.reconcile(ctx, NS, "churn")
    assert _store_ready(kube, "churn") == ("True", "ArtifactStoreAvailable")

    before = counted.reads.count("Secret/churn-s3")
    artifacts = {"uri": f"s3://{bucket}/fraud/", "secretRef": {"name": "churn-s3"}}
    world.model_retrain(kube, spec_wire(artifacts), name="fraud")
    for name in ("churn", "fraud", "churn"):
        modelretrains.reconcile(ctx, NS, name)
        assert _store_ready(kube, name) == ("True", "ArtifactStoreAvailable")
    assert counted.reads.count("Secret/churn-s3") == before


def _store_ready(kube: FakeKube, name: str) -> tuple[str, str]:
    parent = kube.get("ModelRetrain", NS, name)
    assert parent is not None
    return world.conditions(parent["status"])["ArtifactStoreReady"]


def _assert_nothing_shows(
    kube: FakeKube, caplog: pytest.LogCaptureFixture, secrets: list[str]
) -> None:
    """No credential in any object the operator wrote, any event, or any log record."""
    written = [
        json.dumps(obj)
        for kind in ("ModelRetrain", "ModelRetrainRun", "Job", "Deployment", "Event")
        for obj in kube.objects(kind)
    ]
    logs = caplog.text + "".join(str(r.exc_info) for r in caplog.records)
    for value in secrets:
        assert value
        assert not any(value in text for text in written), value
        assert value not in logs, value
    assert caplog.records  # the failure was logged, just without the values


def test_an_endpoint_that_never_answers_fails_the_run_after_botocore_s_retries(
    bucket: str, operator_env_points_elsewhere: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    kube = FakeKube(clock=world.clock_at())
    with _hanging_up() as (endpoint, accepted):
        world.secret(kube, "churn-s3", _settings(endpoint, UNKNOWN_KEY_ID, WRONG_SECRET))
        ctx = _model_retrain(kube, bucket)
        modelretrains.reconcile(ctx, NS, "churn")
        name = world.only_run(kube)
        accepted.clear()
        runs.reconcile(ctx, NS, name)
    status = world.run_status(kube, name)
    assert (status["phase"], status["reason"]) == ("Failed", "ArtifactStoreUnreachable")
    assert f"at {endpoint.replace('127.0.0.1', 'localhost')}" in status["message"]
    assert len(accepted) == 6  # the request and the five retries make_s3_client allows
    _assert_nothing_shows(kube, caplog, [UNKNOWN_KEY_ID, WRONG_SECRET])
