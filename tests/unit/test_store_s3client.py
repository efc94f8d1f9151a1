"""S3 clients are built once per set of settings, all from one boto3 session."""

from __future__ import annotations

import pytest

from autoretrain.store import s3client
from autoretrain.store.s3client import make_s3_client

SECRET = {
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "first-secret",
    "AWS_ENDPOINT_URL": "http://s3.example:9000",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def test_the_same_settings_share_one_client() -> None:
    assert make_s3_client(dict(SECRET)) is make_s3_client(dict(SECRET))


def test_a_rotated_secret_gets_a_client_of_its_own() -> None:
    first = make_s3_client(SECRET)
    rotated = make_s3_client({**SECRET, "AWS_SECRET_ACCESS_KEY": "second-secret"})
    assert rotated is not first
    assert rotated._request_signer._credentials.secret_key == "second-secret"  # type: ignore[attr-defined]


def test_a_secret_and_the_process_environment_never_share_a_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in SECRET.items():
        monkeypatch.setenv(name, value)
    # The same values, but a Secret ignores endpoints from AWS config files; the
    # process environment does not.
    assert make_s3_client(SECRET) is not make_s3_client()
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://elsewhere:9000")
    assert make_s3_client().meta.endpoint_url == "http://elsewhere:9000"


def test_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3client, "MAX_CACHED_CLIENTS", 2)
    oldest = make_s3_client({**SECRET, "AWS_SECRET_ACCESS_KEY": "a"})
    make_s3_client({**SECRET, "AWS_SECRET_ACCESS_KEY": "b"})
    make_s3_client({**SECRET, "AWS_SECRET_ACCESS_KEY": "c"})
    assert len(s3client._clients) <= 2
    assert make_s3_client({**SECRET, "AWS_SECRET_ACCESS_KEY": "a"}) is not oldest


def test_credentials_are_not_kept_in_clear_in_the_cache_keys() -> None:
    make_s3_client(SECRET)
    assert not any("first-secret" in key for key in s3client._clients)


def test_clients_of_many_secrets_share_one_session_and_its_service_model() -> None:
    clients = [make_s3_client({**SECRET, "AWS_ACCESS_KEY_ID": f"AKIA{i}"}) for i in range(3)]
    assert len({id(client) for client in clients}) == 3
    # The parsed S3 model (megabytes, a fifth of a second to load) is loaded once.
    loaders = {id(client._loader) for client in clients}  # type: ignore[attr-defined]
    assert len(loaders) == 1
    keys = [client._request_signer._credentials.access_key for client in clients]  # type: ignore[attr-defined]
    assert keys == ["AKIA0", "AKIA1", "AKIA2"]


def test_preparing_loads_the_shared_session_and_keeps_no_client() -> None:
    before = dict(s3client._clients)
    s3client.prepare()
    assert s3client._session is not None
    assert dict(s3client._clients) == before
