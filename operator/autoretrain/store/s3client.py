"""boto3 S3 clients, configured from AWS-style settings and kept for reuse.

The operator opens a ModelRetrain's registry on every reconcile, several times
a second while a canary is probed, so a client is made once per distinct set of
settings (one per Secret, as a rule) and shared: boto3 clients are thread-safe.

All clients come from one boto3 session, which loads and parses the S3 service
model once. A session of its own per client cost about a quarter second of CPU
and 9 MB of memory each; from the shared one a client costs about 11 ms and
0.3 MB, so an operator serving many namespaces, each with its Secret, stays small.
Sessions are not thread-safe, so clients are made under one lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from boto3.session import Session
    from mypy_boto3_s3 import S3Client

#: Distinct settings (Secrets, rotated credentials) whose clients are kept.
MAX_CACHED_CLIENTS = 256

_clients: OrderedDict[str, S3Client] = OrderedDict()
_clients_lock = threading.Lock()
_session: Session | None = None


def _settings_key(env: Mapping[str, str], isolated: bool) -> str:
    """A digest of the settings a client is built from; credentials are not kept in clear."""
    relevant = sorted(
        (name, value)
        for name, value in env.items()
        if name.startswith("AWS_") or name == "AUTORETRAIN_S3_ADDRESSING_STYLE"
    )
    return hashlib.sha256(json.dumps([isolated, relevant]).encode()).hexdigest()


def make_s3_client(env: Mapping[str, str] | None = None) -> S3Client:
    """A boto3 S3 client configured from the standard AWS environment variables.

    ``env`` replaces the process environment, e.g. with the keys of the Secret
    a ModelRetrain names; keys it lacks fall back to boto3's own credential chain
    (``autoretrain.store.credentials`` makes sure a Secret has its keys). With
    ``env`` given, an endpoint set in the process environment or AWS config is
    ignored too, so a Secret without ``AWS_ENDPOINT_URL`` means AWS itself, not
    whatever server the operator's own environment points at. A custom endpoint
    (MinIO, Ceph, a local test server) gets path-style addressing, which those
    servers expect.

    The same settings give the same client; changed ones (a rotated Secret) a new one.
    """
    isolated = env is not None
    env = os.environ if env is None else env
    key = _settings_key(env, isolated)
    # Held while building: the shared session is not thread-safe, and the workers
    # that start together after a restart all want the same client.
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = _build(env, isolated)
        _clients.move_to_end(key)
        while len(_clients) > MAX_CACHED_CLIENTS:
            _clients.popitem(last=False)
    return client


def prepare() -> None:
    """Load boto3 and the S3 service model now, so the first registry opened need not.

    That takes about half a second, which a starting operator spends while its
    watches list, instead of holding every worker's first reconcile.
    """
    with _clients_lock:
        # A client of no one's settings, not kept: making it loads what every client shares.
        placeholder = {"AWS_ACCESS_KEY_ID": "-", "AWS_SECRET_ACCESS_KEY": "-"}
        _build({**placeholder, "AWS_DEFAULT_REGION": "us-east-1"}, isolated=True)


def _shared_session() -> Session:
    """The one session clients are made from; the caller holds ``_clients_lock``."""
    global _session
    if _session is None:
        import boto3

        _session = boto3.session.Session()
    return _session


def _build(env: Mapping[str, str], isolated: bool) -> S3Client:
    """A new client; the caller holds ``_clients_lock``."""
    from botocore.config import Config

    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    style = env.get("AUTORETRAIN_S3_ADDRESSING_STYLE", "path" if endpoint else "auto")
    if style not in ("auto", "virtual", "path"):
        raise ValueError(
            f"AUTORETRAIN_S3_ADDRESSING_STYLE must be auto, virtual or path: {style!r}"
        )
    addressing: Literal["auto", "virtual", "path"] = style  # type: ignore[assignment]
    config = Config(  # type: ignore[call-arg]  # botocore has it; its stubs lag behind
        s3={"addressing_style": addressing},
        # botocore waits 60 s per read by default: an endpoint that accepts and hangs
        # would hold a reconcile for minutes. Short waits, retried, ride out a blip.
        connect_timeout=5,
        read_timeout=15,
        retries={"max_attempts": 5, "mode": "standard"},
        ignore_configured_endpoint_urls=isolated,
    )
    return _shared_session().client(
        "s3",
        endpoint_url=endpoint or None,
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
        aws_session_token=env.get("AWS_SESSION_TOKEN"),
        region_name=env.get("AWS_DEFAULT_REGION"),
        config=config,
    )
