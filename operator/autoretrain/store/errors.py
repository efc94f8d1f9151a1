"""Errors of the artifact store and the model registry.

Every error names the artifact it concerns, so the message alone says what to fix.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base of every error raised by ``autoretrain.store``."""


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
