"""An S3 API server for the local cluster that refuses wrong credentials, as AWS S3 does.

The operator, the training and gate pods and the tests on the host all need one
S3 endpoint, and the operator must be seen failing when a Secret holds wrong
keys. moto's S3 implements the API (conditional writes included), but its
server accepts any key unless IAM authentication is switched on, and it also
serves ``/moto-api/`` endpoints that reset its state or switch authentication
off again. So this module runs moto's S3 application alone, behind a small WSGI
gate, in its own process (``python -m localcluster.s3server``):

* Before it serves, the process creates one IAM user with an access key and an
  inline policy allowing ``s3:*``, and writes the key to
  ``<folder>/credentials.json`` (mode 0600). It is the only identity the server
  knows; a new process has a new key, and the file goes when the process stops.
* moto then checks every request: an unknown access key is answered with
  ``InvalidAccessKeyId``, a wrong secret with ``SignatureDoesNotMatch``, both 403.
* The gate refuses with ``AccessDenied`` (403) what moto would not check:
  anonymous requests, presigned URLs, other signature versions and other AWS
  services. Only S3 is routed, so ``/moto-api/`` is not reachable.
* At start-up the process sends itself a request with an unknown key and exits
  if it is not refused, so a moto release that changes how authentication is
  switched on cannot leave an open server behind.

Objects live in memory (moto's store), so they go with the process. Buckets are
addressed path-style whatever the host name, as ``make_s3_client`` does for any
custom endpoint.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import logging
import os
import re
import secrets
import signal
import socket
import string
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

REGION = "us-east-1"
USER = "autoretrain-local"
POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
}
TOOLS = Path(__file__).resolve().parents[1]

log = logging.getLogger("s3server")

WSGIEnviron = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[WSGIEnviron, StartResponse], Iterable[bytes]]


class S3ServerError(RuntimeError):
    pass


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    region: str = REGION

    def env(self, endpoint: str) -> dict[str, str]:
        """The standard AWS variables, as a Secret or ``make_s3_client`` takes them."""
        return {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_DEFAULT_REGION": self.region,
        }


# -- the launcher's side --------------------------------------------------------
def credentials_file(folder: Path) -> Path:
    return folder / "credentials.json"


def argv(folder: Path, host: str, port: int) -> list[str]:
    """The server's command line; run it with ``env()`` added to the environment."""
    folder.mkdir(parents=True, exist_ok=True)
    return [
        sys.executable,
        "-m",
        "localcluster.s3server",
        f"--folder={folder}",
        f"--host={host}",
        f"--port={port}",
    ]


def env() -> dict[str, str]:
    """Makes ``localcluster`` importable in the server process, wherever it starts."""
    paths = (str(TOOLS), os.environ.get("PYTHONPATH"))
    return {"PYTHONPATH": os.pathsep.join(p for p in paths if p)}


def ready(endpoint: str, timeout: float = 2) -> bool:
    """Whether the server answers and refuses an anonymous request, as S3 does."""
    try:
        with urllib.request.urlopen(f"{endpoint.rstrip('/')}/", timeout=timeout):
            return False  # an endpoint serving anonymous requests is not this server
    except urllib.error.HTTPError as error:
        return error.code == 403 and b"<Code>AccessDenied</Code>" in error.read()
    except OSError:
        return False


def bootstrap(endpoint: str, folder: Path) -> Credentials:
    """The key of the server at ``endpoint`` started with ``folder``, checked against it.

    The server process creates its user, key and policy itself before it
    serves, so no request is ever served unauthenticated; this reads the key it
    wrote. Every call during the process's life returns the same key.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    path = credentials_file(folder)
    try:
        credentials = Credentials(**json.loads(path.read_text()))
    except FileNotFoundError:
        raise S3ServerError(f"{path} does not exist: is the S3 server running?") from None
    except (ValueError, TypeError) as error:
        raise S3ServerError(f"{path} is not a credentials file: {error}") from None
    try:
        _client(endpoint, credentials).list_buckets()
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        raise S3ServerError(
            f"the S3 server at {endpoint} refuses the key in {path} ({code}): "
            "it belongs to another server process"
        ) from None
    except BotoCoreError as error:
        raise S3ServerError(f"the S3 server at {endpoint} does not answer: {error}") from None
    return credentials


def create_bucket(endpoint: str, credentials: Credentials, name: str) -> None:
    """Creates the bucket unless it exists already."""
    from botocore.exceptions import ClientError

    try:
        _client(endpoint, credentials).create_bucket(Bucket=name)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
            raise


def _client(endpoint: str, credentials: Credentials) -> S3Client:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        region_name=credentials.region,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
    )


# -- the server's side ----------------------------------------------------------
_SIGV4 = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/,]+)/\d{8}/[^/,]+/(?P<service>[^/,]+)/aws4_request,"
)
_PRESIGNED = frozenset({"x-amz-signature", "x-amz-credential", "signature", "awsaccesskeyid"})


def refusal(environ: WSGIEnviron) -> str | None:
    """Why the gate refuses a request before moto sees it, or None to hand it on.

    moto checks a header signature only; whatever carries none would be served.
    """
    if any(name.lower() in _PRESIGNED for name, _ in parse_qsl(environ.get("QUERY_STRING", ""))):
        return "presigned URLs are not supported by this server"
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    if not authorization:
        return "anonymous requests are not allowed"
    match = _SIGV4.match(authorization)
    if match is None:
        return "only AWS Signature Version 4 in the Authorization header is supported"
    if match["service"] != "s3":
        return f"this server serves s3, not {match['service']}"
    return None


class Gate:
    """WSGI middleware: refuses what moto would not check, and logs the refusals."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnviron, start_response: StartResponse) -> Iterable[bytes]:
        request = f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}"
        reason = refusal(environ)
        if reason is not None:
            if request != "GET /" or "HTTP_AUTHORIZATION" in environ:  # not ready()'s probe
                log.warning("refused %s: %s", request, reason)
            _drain(environ)
            body = _access_denied(reason, start_response)
            return [] if environ.get("REQUEST_METHOD") == "HEAD" else body
        match = _SIGV4.match(environ["HTTP_AUTHORIZATION"])
        key = match["key"] if match else "?"

        def logging_start_response(status: str, headers: Any, *args: Any) -> Any:
            if status.startswith(("401", "403")):
                log.warning("refused %s with key %s: %s", request, key, status)
            return start_response(status, headers, *args)

        return self.app(environ, logging_start_response)


def _drain(environ: WSGIEnviron) -> None:
    """Reads the body of a refused request, so the client gets the answer, not a reset."""
    stream = environ["wsgi.input"]
    if environ.get("wsgi.input_terminated"):
        while stream.read(1 << 16):
            pass
        return
    remaining = int(environ.get("CONTENT_LENGTH") or 0)
    while remaining > 0:
        chunk = stream.read(min(remaining, 1 << 16))
        if not chunk:
            return
        remaining -= len(chunk)


def _access_denied(message: str, start_response: StartResponse) -> list[bytes]:
    request_id = uuid.uuid4().hex[:16].upper()
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>AccessDenied</Code><Message>{escape(message)}</Message>"
        f"<RequestId>{request_id}</RequestId></Error>"
    ).encode()
    start_response(
        "403 Forbidden",
        [
            ("Content-Type", "application/xml"),
            ("Content-Length", str(len(body))),
            ("x-amz-request-id", request_id),
        ],
    )
    return [body]


def _new_secret() -> str:
    alphabet = string.ascii_letters + string.digits + "+/"
    return "".join(secrets.choice(alphabet) for _ in range(40))


def _create_identity() -> Credentials:
    """The one IAM user the server knows, with a key and a policy allowing all of S3."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.iam.models import iam_backends

    iam = iam_backends[DEFAULT_ACCOUNT_ID]["aws"]
    iam.create_user(REGION, USER)
    iam.put_user_policy(USER, "s3-all", json.dumps(POLICY))
    key = iam.create_access_key(USER)
    # moto draws secrets from `random`, whose output can be predicted.
    key.secret_access_key = _new_secret()
    return Credentials(key.access_key_id, key.secret_access_key, REGION)


def _write_private(path: Path, credentials: Credentials) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # O_CREAT's mode does not apply to a leftover file
    with os.fdopen(descriptor, "w") as handle:
        json.dump(asdict(credentials), handle)
    temporary.replace(path)


def _check_enforced(s3: WSGIApp) -> None:
    """Exits unless moto refuses a request with an unknown key."""
    from werkzeug.test import Client

    unknown = (
        "AWS4-HMAC-SHA256 Credential=AKIAUNKNOWNKEY000000/20250101/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64
    )
    response = Client(s3).get(
        "/", headers={"Authorization": unknown, "X-Amz-Date": "20250101T000000Z"}
    )
    if response.status_code != 403 or b"InvalidAccessKeyId" not in response.data:
        sys.exit(
            f"s3server: moto served a request with an unknown key ({response.status_code}); "
            "its authentication is not on, so the server does not start"
        )


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            # The launcher's wait_ready looks for these words to pick another port.
            sys.exit(f"s3server: cannot listen on {host}:{port}: address already in use")
        raise


def serve(folder: Path, host: str, port: int) -> None:
    # Read by moto when it is imported: no unauthenticated requests at all, and
    # path-style buckets for any host name (pods reach the host by IP or name).
    os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"
    os.environ["S3_IGNORE_SUBDOMAIN_BUCKETNAME"] = "true"
    # Bound before moto's imports (a second) and not by werkzeug, which exits
    # with its own words on a taken port.
    with _listen(host, port) as listener:
        from moto.moto_server.werkzeug_app import MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        s3 = create_backend_app("s3")
        server = make_server(
            host,
            port,
            Gate(s3),
            threaded=True,
            request_handler=MotoRequestHandler,
            fd=listener.fileno(),
        )
    path = credentials_file(folder)
    try:
        # From here on a stop unwinds through `finally`, which removes the key.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        _write_private(path, _create_identity())
        _check_enforced(s3)
        log.warning("serving S3 on http://%s:%d; credentials in %s", host, port, path)
        server.serve_forever()
    finally:
        server.server_close()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def main(args: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="An S3 API server that enforces credentials.")
    parser.add_argument("--folder", required=True, type=Path)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", required=True, type=int)
    parsed = parser.parse_args(args)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    # One line per request would bury the refusals, which the gate logs itself.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    serve(parsed.folder, parsed.host, parsed.port)


if __name__ == "__main__":
    main()
