"""The store's typed failures: credentials from a Secret, and what a failed S3 request means."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from botocore import exceptions as boto

from autoretrain.store.credentials import s3_settings_from_secret
from autoretrain.store.errors import (
    AccessDeniedError,
    BucketNotFoundError,
    CredentialsError,
    StoreError,
    StoreUnreachableError,
)
from autoretrain.store.s3client import make_s3_client
from autoretrain.store.s3errors import s3_store_error

KEY_ID, SECRET = "AKIA-DISTINCT-KEY-ID", "distinct/secret+value"


def _secret(**values: str) -> dict[str, Any]:
    return {"data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}}


def test_the_secret_s_s3_keys_are_decoded_and_nothing_else_is_taken() -> None:
    secret = _secret(
        AWS_ACCESS_KEY_ID=KEY_ID,
        AWS_SECRET_ACCESS_KEY=SECRET,
        AWS_ENDPOINT_URL="http://minio:9000",
        UNRELATED="x",
    )
    assert s3_settings_from_secret("ml/s3", secret) == {
        "AWS_ACCESS_KEY_ID": KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_ENDPOINT_URL": "http://minio:9000",
    }


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        (None, "Secret ml/s3 named by spec.artifacts.secretRef does not exist"),
        ({}, "Secret ml/s3 has no AWS_ACCESS_KEY_ID and no AWS_SECRET_ACCESS_KEY"),
        (_secret(AWS_ACCESS_KEY_ID=KEY_ID), "Secret ml/s3 has no AWS_SECRET_ACCESS_KEY"),
        (_secret(AWS_SECRET_ACCESS_KEY=SECRET), "Secret ml/s3 has no AWS_ACCESS_KEY_ID"),
        (
            _secret(AWS_ACCESS_KEY_ID="", AWS_SECRET_ACCESS_KEY=SECRET),
            "Secret ml/s3 has no AWS_ACCESS_KEY_ID",
        ),
        (
            {"data": {"AWS_ACCESS_KEY_ID": "%%%", "AWS_SECRET_ACCESS_KEY": "c2VjcmV0"}},
            "Secret ml/s3: key AWS_ACCESS_KEY_ID is not base64-encoded text",
        ),
    ],
    ids=["missing", "empty", "no secret key", "no key id", "empty key id", "not base64"],
)
def test_a_secret_that_cannot_serve_is_a_credentials_error_naming_it(
    secret: dict[str, Any] | None, message: str
) -> None:
    with pytest.raises(CredentialsError) as refused:
        s3_settings_from_secret("ml/s3", secret)
    assert str(refused.value).startswith(message)
    assert KEY_ID not in str(refused.value) and SECRET not in str(refused.value)
    assert refused.value.reason == "CredentialsError"


def _client_error(code: str, status: int = 403) -> boto.ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": f"server text with {KEY_ID}"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return boto.ClientError(response, "ListObjectsV2")


@pytest.mark.parametrize(
    ("error", "kind", "reason", "says"),
    [
        (
            _client_error("InvalidAccessKeyId"),
            AccessDeniedError,
            "ArtifactStoreAccessDenied",
            "InvalidAccessKeyId",
        ),
        (
            _client_error("SignatureDoesNotMatch"),
            AccessDeniedError,
            "ArtifactStoreAccessDenied",
            "SignatureDoesNotMatch",
        ),
        (
            _client_error("AccessDenied"),
            AccessDeniedError,
            "ArtifactStoreAccessDenied",
            "AccessDenied",
        ),
        (_client_error("403"), AccessDeniedError, "ArtifactStoreAccessDenied", "403"),
        (
            _client_error("NoSuchBucket", 404),
            BucketNotFoundError,
            "ArtifactBucketNotFound",
            "NoSuchBucket",
        ),
        (_client_error("InternalError", 500), StoreError, "ArtifactStoreError", "InternalError"),
        (
            boto.NoCredentialsError(),
            CredentialsError,
            "CredentialsError",
            "no complete S3 credentials",
        ),
        (
            boto.EndpointConnectionError(
                endpoint_url="http://minio:9000", error="Connection refused"
            ),
            StoreUnreachableError,
            "ArtifactStoreUnreachable",
            "did not answer after retries: EndpointConnectionError (Connection refused)",
        ),
        (
            boto.ReadTimeoutError(endpoint_url="http://minio:9000", error="read timed out"),
            StoreUnreachableError,
            "ArtifactStoreUnreachable",
            "ReadTimeoutError",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_s3_failures_become_typed_errors_that_name_endpoint_and_code(
    error: Exception, kind: type[StoreError], reason: str, says: str
) -> None:
    translated = s3_store_error(error, "list s3://models/churn/champion/", "http://minio:9000")
    assert type(translated) is kind and translated.reason == reason
    text = str(translated)
    assert text.startswith("list s3://models/churn/champion/ at http://minio:9000: ")
    assert says in text
    assert KEY_ID not in text  # the server's own words are never repeated


def test_errors_that_are_not_botocore_s_are_left_alone() -> None:
    assert s3_store_error(ValueError("bad key"), "read", "http://x") is None


def test_a_secret_without_an_endpoint_does_not_borrow_the_operator_s(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://operator-own-s3:9000")
    own = make_s3_client({"AWS_DEFAULT_REGION": "eu-west-1"})
    assert own.meta.endpoint_url == "https://s3.eu-west-1.amazonaws.com"
    pods = make_s3_client()  # in a pod, the environment is the Secret
    assert pods.meta.endpoint_url == "http://operator-own-s3:9000"
