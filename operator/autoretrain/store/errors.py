"""Errors of the artifact store and the model registry.

Every error names the artifact it concerns, so the message alone says what to fix,
and never carries a credential. Each class also names itself for a status:
``reason`` is the CamelCase reason a run or ModelRetrain records when the store
fails this way, so handlers report failures without classifying them.
"""

from __future__ import annotations

from typing import ClassVar


class StoreError(Exception):
    """Base of every error raised by ``autoretrain.store``."""

    reason: ClassVar[str] = "ArtifactStoreError"


class CredentialsError(StoreError):
    """The store's credentials are missing or incomplete, so no request was sent.

    Raised, for instance, when the Secret a ModelRetrain names does not exist or
    lacks a key; the operator never falls back to credentials of its own.
    """

    reason: ClassVar[str] = "CredentialsError"


class AccessDeniedError(StoreError):
    """The endpoint refused the credentials (unknown key, wrong secret) or the request."""

    reason: ClassVar[str] = "ArtifactStoreAccessDenied"


class StoreUnreachableError(StoreError):
    """The endpoint did not answer, after the client's own retries."""

    reason: ClassVar[str] = "ArtifactStoreUnreachable"


class BucketNotFoundError(StoreError):
    """The bucket of the artifact URI does not exist."""

    reason: ClassVar[str] = "ArtifactBucketNotFound"


class ObjectNotFoundError(StoreError):
    """The object does not exist."""


class IntegrityError(StoreError):
    """An artifact's bytes do not match the sha256 recorded for it."""


class UnsafeArtifactError(StoreError):
    """An artifact is not a skops archive, or needs types that are not trusted."""


class ConcurrentUpdateError(StoreError):
    """Another writer changed the object first; nothing was overwritten."""


class VersionExistsError(StoreError):
    """A sealed model version is immutable and cannot be written again."""


class ConditionalWritesUnsupportedError(StoreError):
    """The S3 endpoint ignores ``If-None-Match: *``, so concurrent writers could not be detected."""


class DatasetError(StoreError):
    """A tabular data URI holds no readable CSV or Parquet file."""
