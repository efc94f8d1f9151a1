"""Byte-level object storage behind one small interface: ``s3://`` and ``file://``.

A store is opened on a folder URI (``s3://bucket/prefix/`` or
``file:///abs/path/``); keys are '/'-separated paths below it. Besides get, put,
list and delete, every store offers ``put_if_absent``: an atomic create-only
write, the primitive the model registry builds its concurrency control on.
On S3 it is a ``PutObject`` with ``If-None-Match: *``; on a file system it is a
hard link of a fully written temporary file, which fails if the name exists.

S3 endpoint and credentials come from the standard environment variables
(``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_DEFAULT_REGION``), which boto3 reads itself; this module never sees them.
"""

from __future__ import annotations

import abc
import builtins
import contextlib
import errno
import os
import threading
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from autoretrain.store.errors import (
    ConditionalWritesUnsupportedError,
    ObjectNotFoundError,
    StoreError,
    StoreUnreachableError,
)
from autoretrain.store.s3client import make_s3_client
from autoretrain.store.s3errors import error_code, s3_store_error

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_TEMP_PREFIX = ".tmp-"
_PRECONDITION_CODES = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict"})
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts[:-1]):
        raise ValueError(f"invalid object key {key!r}")
    if parts[-1] in ("", ".", ".."):
        raise ValueError(f"invalid object key {key!r}")
    return key


class ObjectStore(abc.ABC):
    """Objects under one folder URI, addressed by relative keys."""

    #: The folder URI this store was opened on, always ending with '/'.
    uri: str

    def uri_of(self, key: str) -> str:
        """Full URI of ``key``."""
        return self.uri + _check_key(key)

    @property
    def location(self) -> str:
        """Where the objects are, unambiguously: the URI, and for S3 also the endpoint."""
        return self.uri

    @abc.abstractmethod
    def get(self, key: str) -> bytes:
        """The object's bytes; raises ``ObjectNotFoundError``."""

    @abc.abstractmethod
    def put(self, key: str, data: bytes) -> None:
        """Write the object, replacing any previous content. Readers never see a partial object."""

    @abc.abstractmethod
    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Create the object atomically; False, and nothing written, when it already exists."""

    @abc.abstractmethod
    def list(self, prefix: str = "") -> builtins.list[str]:
        """Keys starting with ``prefix``, sorted."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; a missing object is not an error."""

    def exists(self, key: str) -> bool:
        """Whether the object exists."""
        try:
            self.get(key)
        except ObjectNotFoundError:
            return False
        return True


class FileObjectStore(ObjectStore):
    """Objects as files below a local directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.uri = root.as_uri().rstrip("/") + "/"

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*_check_key(key).split("/"))

    def _write_temp(self, path: Path, data: bytes) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f"{_TEMP_PREFIX}{uuid.uuid4().hex}-{path.name}")
        with temp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        return temp

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectNotFoundError(f"{self.uri_of(key)} does not exist") from None

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        temp = self._write_temp(path, data)
        temp.replace(path)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        path = self._path(key)
        temp = self._write_temp(path, data)
        try:
            # link() publishes a complete file and fails if the name is taken: an
            # atomic create-only write, unlike open(O_EXCL) followed by write().
            os.link(temp, path)
        except FileExistsError:
            return False
        except OSError as error:
            if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise
            return self._create_exclusive(path, data)
        finally:
            temp.unlink(missing_ok=True)
        return True

    @staticmethod
    def _create_exclusive(path: Path, data: bytes) -> bool:
        """Fallback for file systems without hard links."""
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        return True

    def list(self, prefix: str = "") -> builtins.list[str]:
        directory = self.root.joinpath(*prefix.split("/")[:-1]) if "/" in prefix else self.root
        if not directory.is_dir():
            return []
        keys = []
        for path in directory.rglob("*"):
            if path.is_file() and not path.name.startswith(_TEMP_PREFIX):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class S3ObjectStore(ObjectStore):
    """Objects in an S3 bucket below a prefix, through boto3."""

    def __init__(self, bucket: str, prefix: str, client: S3Client | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.uri = f"s3://{bucket}/{self.prefix}"
        self._client = client
        self._conditional_writes_checked = False
        self._lock = threading.Lock()

    @property
    def client(self) -> S3Client:
        """The boto3 client, created on first use from the standard AWS environment."""
        with self._lock:
            if self._client is None:
                self._client = make_s3_client()
            return self._client

    @property
    def location(self) -> str:
        return f"{self.client.meta.endpoint_url} {self.uri}"

    def _key(self, key: str) -> str:
        return self.prefix + _check_key(key)

    @contextlib.contextmanager
    def _request(self, what: str) -> Iterator[None]:
        """Turns botocore's failures of ``what`` into the store's typed errors."""
        try:
            yield
        except StoreError:
            raise
        except Exception as error:
            endpoint = self._client.meta.endpoint_url if self._client else "(no client)"
            translated = s3_store_error(error, what, endpoint)
            if translated is None:
                raise
            # The server's own words stay out of the chain: only codes are ours to show.
            cause = error if isinstance(translated, StoreUnreachableError) else None
            raise translated from cause

    def get(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        with self._request(f"read {self.uri_of(key)}"):
            try:
                response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            except ClientError as error:
                if error_code(error) in _MISSING_CODES:
                    raise ObjectNotFoundError(f"{self.uri_of(key)} does not exist") from None
                raise
            data: bytes = response["Body"].read()
            return data

    def put(self, key: str, data: bytes) -> None:
        with self._request(f"write {self.uri_of(key)}"):
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        with self._request(f"create {self.uri_of(key)}"):
            self._ensure_conditional_writes()
            return self._put_if_none_match(self._key(key), data)

    def _put_if_none_match(self, full_key: str, data: bytes) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.put_object(Bucket=self.bucket, Key=full_key, Body=data, IfNoneMatch="*")
        except ClientError as error:
            if error_code(error) in _PRECONDITION_CODES:
                return False
            raise
        return True

    def _ensure_conditional_writes(self) -> None:
        """Refuse to go on when the endpoint would silently overwrite a create-only write.

        AWS S3, MinIO and Ceph honour ``If-None-Match: *``; an endpoint that ignores
        it would turn every concurrent promotion into a silent lost update.
        """
        if self._conditional_writes_checked:
            return
        probe = f"{self.prefix}.conditional-write-probe-{uuid.uuid4().hex}"
        try:
            first = self._put_if_none_match(probe, b"1")
            second = self._put_if_none_match(probe, b"2")
        finally:
            with contextlib.suppress(Exception):
                self.client.delete_object(Bucket=self.bucket, Key=probe)
        if not (first and not second):
            raise ConditionalWritesUnsupportedError(
                f"the S3 endpoint of {self.uri} ignores If-None-Match: *; the registry needs "
                "conditional writes (AWS S3, MinIO and Ceph support them)"
            )
        self._conditional_writes_checked = True

    def list(self, prefix: str = "") -> builtins.list[str]:
        keys: builtins.list[str] = []
        with self._request(f"list {self.uri}{prefix}"):
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                keys.extend(item["Key"][len(self.prefix) :] for item in page.get("Contents", []))
        return sorted(keys)

    def delete(self, key: str) -> None:
        with self._request(f"delete {self.uri_of(key)}"):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))


def open_store(uri: str, s3_env: Mapping[str, str] | None = None) -> ObjectStore:
    """The store rooted at the folder ``uri`` (``s3://bucket/prefix/``, ``file:///path/``).

    ``s3_env`` configures an S3 client in place of the process environment.
    """
    parts = urlsplit(uri)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError(f"s3 URI without a bucket: {uri!r}")
        client = make_s3_client(s3_env) if s3_env is not None else None
        return S3ObjectStore(parts.netloc, unquote(parts.path), client)
    if parts.scheme == "file" or (parts.scheme == "" and uri.startswith("/")):
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"file URI with a remote host: {uri!r}")
        return FileObjectStore(Path(unquote(parts.path)))
    raise ValueError(f"unsupported artifact URI {uri!r}: use s3://bucket/prefix/ or file:///path/")


def split_uri(uri: str) -> tuple[str, str]:
    """The folder URI (ending with '/') and the object name of a full object URI.

    >>> split_uri("s3://models/churn/versions/v1/model.skops")
    ('s3://models/churn/versions/v1/', 'model.skops')
    """
    folder, _, name = uri.rpartition("/")
    if not name or not folder:
        raise ValueError(f"not an object URI: {uri!r}")
    return folder + "/", name


def join_uri(folder: str, *parts: str) -> str:
    """``folder`` with ``parts`` appended, '/'-separated.

    >>> join_uri("file:///srv/models", "versions", "v1/")
    'file:///srv/models/versions/v1/'
    """
    joined = folder.rstrip("/")
    for part in parts:
        joined += "/" + part.strip("/")
    return joined + ("/" if parts and parts[-1].endswith("/") else "")


def read_uri(uri: str) -> bytes:
    """The bytes of the object at a full URI."""
    folder, name = split_uri(uri)
    return open_store(folder).get(name)


def write_uri(uri: str, data: bytes) -> None:
    """Write the object at a full URI, replacing any previous content."""
    folder, name = split_uri(uri)
    open_store(folder).put(name, data)
