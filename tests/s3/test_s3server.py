"""The local cluster's S3 server: its one key works, and every other request is refused.

The server runs as its own process, as the launcher starts it, so these tests
see what pods and the operator see: HTTP, SigV4 and S3's error codes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import stat
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from autoretrain.store.errors import ConcurrentUpdateError, StoreError
from autoretrain.store.objects import S3ObjectStore, open_store
from autoretrain.store.registry import ModelRegistry
from autoretrain.store.s3client import make_s3_client
from localcluster import s3server
from localcluster.supervise import PortInUse, free_port, stop, wait_ready
from tests.support.registry import publish


@dataclass(frozen=True)
class Server:
    endpoint: str
    folder: Path
    log: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        stop(self.process.pid)
        self.process.wait(timeout=10)


def start(folder: Path, port: int | None = None) -> Server:
    """The server in its own process group, as the launcher spawns it; waits until it serves."""
    port = port or free_port()
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "s3server.log"
    with log.open("ab") as output:
        process = subprocess.Popen(
            s3server.argv(folder / "s3", "127.0.0.1", port),
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **s3server.env()},
        )
    server = Server(f"http://127.0.0.1:{port}", folder / "s3", log, process)
    try:
        wait_ready("s3server", lambda: s3server.ready(server.endpoint, 0.5), 30, log, process.pid)
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    started = start(tmp_path_factory.mktemp("s3server"))
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def credentials(server: Server) -> s3server.Credentials:
    return s3server.bootstrap(server.endpoint, server.folder)


@pytest.fixture(scope="module")
def filled_bucket(server: Server, credentials: s3server.Credentials) -> str:
    """A bucket holding ``k`` = b"original", for the refused requests to aim at."""
    name = f"refusals-{uuid.uuid4().hex[:8]}"
    s3server.create_bucket(server.endpoint, credentials, name)
    make_s3_client(credentials.env(server.endpoint)).put_object(
        Bucket=name, Key="k", Body=b"original"
    )
    return name


def error_of(refused: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response: Any = refused.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def calls(client: Any, bucket: str) -> dict[str, Callable[[], object]]:
    """One request of every kind the store and the registry make."""
    return {
        "ListBuckets": client.list_buckets,
        "CreateBucket": lambda: client.create_bucket(Bucket=f"new-{uuid.uuid4().hex[:8]}"),
        "ListObjectsV2": lambda: client.list_objects_v2(Bucket=bucket),
        "GetObject": lambda: client.get_object(Bucket=bucket, Key="k"),
        "PutObject": lambda: client.put_object(Bucket=bucket, Key="k", Body=b"overwritten"),
        "PutObject If-None-Match": lambda: client.put_object(
            Bucket=bucket, Key="new", Body=b"created", IfNoneMatch="*"
        ),
        "DeleteObject": lambda: client.delete_object(Bucket=bucket, Key="k"),
    }


def assert_untouched(server: Server, credentials: s3server.Credentials, bucket: str) -> None:
    client = make_s3_client(credentials.env(server.endpoint))
    assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"original"
    assert [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]] == ["k"]
    assert [
        b["Name"] for b in client.list_buckets()["Buckets"] if b["Name"].startswith("new-")
    ] == []


def test_bootstrap_returns_the_one_key_of_the_server(
    server: Server, credentials: s3server.Credentials
) -> None:
    assert s3server.bootstrap(server.endpoint, server.folder) == credentials
    path = s3server.credentials_file(server.folder)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["access_key_id"] == credentials.access_key_id
    assert credentials.secret_access_key not in repr(credentials)
    assert credentials.access_key_id.startswith("AKIA") and len(credentials.secret_access_key) == 40


def test_the_key_creates_buckets_and_writes_conditionally(
    server: Server, credentials: s3server.Credentials
) -> None:
    name = f"models-{uuid.uuid4().hex[:8]}"
    s3server.create_bucket(server.endpoint, credentials, name)
    s3server.create_bucket(server.endpoint, credentials, name)  # idempotent
    client = make_s3_client(credentials.env(server.endpoint))
    client.put_object(Bucket=name, Key="a/b.json", Body=b"first")
    assert client.get_object(Bucket=name, Key="a/b.json")["Body"].read() == b"first"

    client.put_object(Bucket=name, Key="a/created.json", Body=b"new", IfNoneMatch="*")
    with pytest.raises(ClientError) as refused:
        client.put_object(Bucket=name, Key="a/b.json", Body=b"second", IfNoneMatch="*")
    assert error_of(refused) == ("PreconditionFailed", 412)
    assert client.get_object(Bucket=name, Key="a/b.json")["Body"].read() == b"first"


@pytest.mark.parametrize(
    ("wrong", "code"),
    [
        ({"secret_access_key": "s" * 40}, "SignatureDoesNotMatch"),
        ({"access_key_id": "AKIAIOSFODNN7EXAMPLE"}, "InvalidAccessKeyId"),
    ],
    ids=["wrong secret", "unknown access key"],
)
def test_wrong_credentials_are_refused(
    server: Server,
    credentials: s3server.Credentials,
    filled_bucket: str,
    wrong: dict[str, str],
    code: str,
) -> None:
    client = make_s3_client(dataclasses.replace(credentials, **wrong).env(server.endpoint))
    for name, call in calls(client, filled_bucket).items():
        with pytest.raises(ClientError) as refused:
            call()
        assert error_of(refused) == (code, 403), name
    with pytest.raises(ClientError) as refused:
        client.head_object(Bucket=filled_bucket, Key="k")
    assert error_of(refused) == ("403", 403)  # HEAD answers carry no error body
    assert_untouched(server, credentials, filled_bucket)
    key = wrong.get("access_key_id", credentials.access_key_id)
    assert f"refused GET /{filled_bucket}/k with key {key}: 403" in server.log.read_text()


def test_requests_without_credentials_are_refused(
    server: Server, credentials: s3server.Credentials, filled_bucket: str
) -> None:
    anonymous = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        config=Config(signature_version=UNSIGNED, s3={"addressing_style": "path"}),
    )
    for name, call in calls(anonymous, filled_bucket).items():
        with pytest.raises(ClientError) as refused:
            call()
        assert error_of(refused) == ("AccessDenied", 403), name
    with pytest.raises(ClientError) as refused:
        anonymous.head_object(Bucket=filled_bucket, Key="k")
    assert error_of(refused) == ("403", 403)
    assert_untouched(server, credentials, filled_bucket)


def test_presigned_urls_are_refused_since_moto_cannot_check_them(
    server: Server, credentials: s3server.Credentials, filled_bucket: str
) -> None:
    client = make_s3_client(credentials.env(server.endpoint))
    url = client.generate_presigned_url("get_object", Params={"Bucket": filled_bucket, "Key": "k"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=5)
    assert refused.value.code == 403
    assert b"<Code>AccessDenied</Code>" in refused.value.read()


def test_moto_s_own_api_is_not_served(server: Server, credentials: s3server.Credentials) -> None:
    # /moto-api/ would switch authentication off, wipe the state or dump every secret.
    for path, data in [("/moto-api/reset-auth", b"inf"), ("/moto-api/reset", b"")]:
        request = urllib.request.Request(f"{server.endpoint}{path}", data=data, method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 403
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{server.endpoint}/moto-api/data.json", timeout=5)
    assert refused.value.code == 403
    assert credentials.secret_access_key.encode() not in refused.value.read()

    unknown = dataclasses.replace(credentials, access_key_id="AKIAIOSFODNN7EXAMPLE")
    with pytest.raises(ClientError) as still_refused:
        make_s3_client(unknown.env(server.endpoint)).list_buckets()
    assert error_of(still_refused) == ("InvalidAccessKeyId", 403)  # authentication is still on


def test_other_aws_services_are_not_served(
    server: Server, credentials: s3server.Credentials
) -> None:
    iam = boto3.client(
        "iam",
        endpoint_url=server.endpoint,
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        region_name="us-east-1",
    )
    with pytest.raises(ClientError) as refused:
        iam.create_user(UserName="intruder")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_the_store_and_registry_work_through_the_server(
    server: Server, credentials: s3server.Credentials
) -> None:
    bucket = f"models-{uuid.uuid4().hex[:8]}"
    s3server.create_bucket(server.endpoint, credentials, bucket)
    env = credentials.env(server.endpoint)
    store = open_store(f"s3://{bucket}/churn/", env)
    assert isinstance(store, S3ObjectStore)
    assert store.put_if_absent("notes/first.txt", b"1")  # passes the conditional-write probe
    assert not store.put_if_absent("notes/first.txt", b"2")

    first = ModelRegistry(store)
    second = ModelRegistry(open_store(f"s3://{bucket}/churn/", env))  # another replica
    for version in ("v1", "v2", "v3"):
        publish(first, version)
    first.promote("v1", run="run-1")
    seen = second.champion()
    assert seen is not None and seen.version == "v1"
    first.promote("v2", expected_sequence=seen.sequence, run="run-2")
    with pytest.raises(ConcurrentUpdateError):
        second.promote("v3", expected_sequence=seen.sequence, run="run-3")
    champion = second.champion()
    assert champion is not None and champion.version == "v2"

    wrong = {**env, "AWS_SECRET_ACCESS_KEY": "s" * 40}
    # botocore's error, or the store's own once it translates them.
    with pytest.raises((ClientError, StoreError), match="SignatureDoesNotMatch"):
        ModelRegistry(open_store(f"s3://{bucket}/churn/", wrong)).champion()


def test_ready_needs_an_answering_server(server: Server) -> None:
    assert s3server.ready(server.endpoint)
    assert not s3server.ready(f"http://127.0.0.1:{free_port()}", timeout=0.5)


def test_a_taken_port_is_reported_as_in_use(tmp_path: Path) -> None:
    """The launcher's wait_ready starts a component again on another port on this message."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(PortInUse, match="address already in use"):
            start(tmp_path, taken.getsockname()[1]).stop()  # stops it only when it did start
    assert not s3server.credentials_file(tmp_path / "s3").exists()


def test_each_server_process_has_its_own_key_and_removes_it_when_stopped(
    server: Server, credentials: s3server.Credentials, tmp_path: Path
) -> None:
    other = start(tmp_path)
    try:
        mine = s3server.bootstrap(other.endpoint, other.folder)
        assert mine.access_key_id != credentials.access_key_id
        with pytest.raises(ClientError) as refused:
            make_s3_client(credentials.env(other.endpoint)).list_buckets()
        assert error_of(refused) == ("InvalidAccessKeyId", 403)
        with pytest.raises(s3server.S3ServerError, match="another server process"):
            s3server.bootstrap(other.endpoint, server.folder)
    finally:
        other.stop()
    assert not s3server.credentials_file(other.folder).exists()
    with pytest.raises(s3server.S3ServerError, match="is the S3 server running"):
        s3server.bootstrap(other.endpoint, other.folder)
