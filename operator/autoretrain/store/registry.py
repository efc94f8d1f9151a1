"""The model registry: immutable versions and a champion pointer with its history.

Layout under the artifact URI (the version folders are the pod contract's,
``autoretrain.api.pods``, since the trainer and the gate Job write into them)::

    versions/<version>/model.skops        the skops artifact
    versions/<version>/metadata.json      written last, create-only: seals the version
    versions/<version>/gate-report.json   the offline gate's full report
    champion/000000000001.json            pointer records, one per promotion

The champion pointer is a sequence of create-only records; the newest one is
the champion. Moving the pointer means creating record ``n + 1`` with an atomic
create-only write, so of two writers that both saw record ``n`` exactly one
succeeds and the other gets ``ConcurrentUpdateError``: an update is never lost,
and the history of promotions is the pointer itself. A canary that is rolled
back never moved the pointer, so it has nothing to undo.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Literal

from pydantic import Field, ValidationError

from autoretrain.api.base import ApiModel
from autoretrain.api.pods import METADATA_FILE, MODEL_FILE, VERSIONS_FOLDER, version_key
from autoretrain.store.champion_heads import ChampionHeads
from autoretrain.store.digests import sha256_hex
from autoretrain.store.errors import (
    ConcurrentUpdateError,
    ObjectNotFoundError,
    StoreError,
    VersionExistsError,
)
from autoretrain.store.metadata import ModelMetadata, metadata_document
from autoretrain.store.objects import ObjectStore, open_store

CHAMPION = "champion/"
_RECORD_KEY = re.compile(r"^champion/(\d{12})\.json$")
_VERSION_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ChampionRecord(ApiModel):
    """One move of the champion pointer."""

    sequence: int = Field(ge=1, description="Position in the history, from 1.")
    action: Literal["Promote", "Rollback"] = Field(description="What moved the pointer.")
    version: str = Field(description="The champion from this record on.")
    sha256: str = Field(description="sha256 of the champion's artifact.")
    model_uri: str = Field(description="Full URI of the champion's artifact.")
    previous_version: str | None = Field(default=None, description="The champion before.")
    run: str | None = Field(default=None, description="The run (or user) that moved it.")
    reason: str | None = Field(default=None, description="Why.")
    at: datetime = Field(description="When (UTC).")


_HEADS: ChampionHeads[ChampionRecord] = ChampionHeads()


def write_version(
    store: ObjectStore,
    folder: str,
    model: bytes,
    metadata: ModelMetadata,
    extra: Mapping[str, bytes] | None = None,
) -> str:
    """Write a version's artifact and ``extra`` files, then seal it with its metadata.

    ``folder`` is the version's key prefix in ``store`` ("" when the store is
    opened on the version folder itself). Until the metadata exists the version
    is unsealed, and a retried training attempt may rewrite the artifact and the
    extra files (such as the training row hashes the metadata points to).
    The metadata is written create-only, as ``metadata_document`` spells it, so
    the sha256 its writer reports is the sha256 of what is stored. Raises
    ``VersionExistsError`` when the version is already sealed. Returns the
    artifact's URI.
    """
    if metadata.sha256 != sha256_hex(model):
        raise ValueError("the metadata must carry the artifact's sha256")
    if store.exists(folder + METADATA_FILE):
        raise VersionExistsError(f"version {metadata.version} already exists and is immutable")
    store.put(folder + metadata.model_file, model)
    for name, body in (extra or {}).items():
        store.put(folder + name, body)
    if not store.put_if_absent(folder + METADATA_FILE, metadata_document(metadata)):
        raise VersionExistsError(f"version {metadata.version} was sealed by another writer")
    return store.uri_of(folder + metadata.model_file)


class ModelRegistry:
    """Versions and the champion pointer under one artifact URI."""

    def __init__(self, store: ObjectStore, clock: Callable[[], datetime] = _utcnow) -> None:
        self.store = store
        self.clock = clock

    @classmethod
    def open(cls, uri: str) -> ModelRegistry:
        """The registry at an artifact URI such as ``s3://models/churn/``."""
        return cls(open_store(uri))

    # -- versions -------------------------------------------------------------

    @staticmethod
    def _key(version: str, name: str) -> str:
        if not _VERSION_NAME.match(version):
            raise ValueError(f"invalid version name {version!r}")
        return version_key(version) + name

    def model_uri(self, version: str) -> str:
        """Full URI of a version's artifact."""
        return self.store.uri_of(self._key(version, MODEL_FILE))

    def publish(
        self,
        version: str,
        model: bytes,
        metadata: ModelMetadata,
        extra: Mapping[str, bytes] | None = None,
    ) -> ModelMetadata:
        """Write a new version; see ``write_version``."""
        self._key(version, MODEL_FILE)  # validates the name
        if metadata.version != version:
            raise ValueError(f"metadata names version {metadata.version}, not {version}")
        write_version(self.store, version_key(version), model, metadata, extra)
        return metadata

    def metadata(self, version: str) -> ModelMetadata:
        """The sealed metadata of a version; raises ``ObjectNotFoundError``."""
        raw = self.store.get(self._key(version, METADATA_FILE))
        try:
            return ModelMetadata.model_validate_json(raw)
        except ValidationError as error:
            raise StoreError(f"metadata of version {version} is invalid: {error}") from error

    def versions(self) -> list[ModelMetadata]:
        """Every sealed version, oldest first."""
        names = {
            key[len(VERSIONS_FOLDER) :].split("/", 1)[0]
            for key in self.store.list(VERSIONS_FOLDER)
            if key.endswith("/" + METADATA_FILE)
        }
        found = []
        for name in names:
            try:
                found.append(self.metadata(name))
            except ObjectNotFoundError:
                continue  # deleted meanwhile
        return sorted(found, key=lambda m: (m.created_at, m.version))

    # -- champion ---------------------------------------------------------------

    def history(self) -> list[ChampionRecord]:
        """Every move of the champion pointer, oldest first."""
        records = []
        for key in self.store.list(CHAMPION):
            if _RECORD_KEY.match(key):
                records.append(ChampionRecord.model_validate_json(self.store.get(key)))
        return sorted(records, key=lambda r: r.sequence)

    def champion(self) -> ChampionRecord | None:
        """The current champion record, or None before the first promotion.

        Runs ask on every tick, so this costs one request whatever the history's
        length: a GET of the record after the newest one seen (``champion_heads``),
        or, the first time and every minute, a LIST and a GET of the newest record.
        """
        location = self.store.location
        fresh, newest = _HEADS.recent(location)
        if not fresh:
            newest = self._newest_listed()
            _HEADS.listed(location, newest)
            return newest
        while (following := self.record((newest.sequence if newest else 0) + 1)) is not None:
            newest = following
            _HEADS.advanced(location, newest)
        return newest

    def _newest_listed(self) -> ChampionRecord | None:
        keys = sorted(key for key in self.store.list(CHAMPION) if _RECORD_KEY.match(key))
        if not keys:
            return None
        return ChampionRecord.model_validate_json(self.store.get(keys[-1]))

    def record(self, sequence: int) -> ChampionRecord | None:
        """The champion record at ``sequence`` in the history, if there is one."""
        try:
            raw = self.store.get(f"{CHAMPION}{sequence:012d}.json")
        except ObjectNotFoundError:
            return None
        return ChampionRecord.model_validate_json(raw)

    def promote(
        self,
        version: str,
        *,
        expected_sequence: int | None = None,
        run: str | None = None,
        reason: str | None = None,
        action: Literal["Promote", "Rollback"] = "Promote",
    ) -> ChampionRecord:
        """Make a sealed version the champion.

        ``action`` says why in the history: a promotion of a new version, or a
        rollback to an earlier one (``kubectl autoretrain rollback``).

        ``expected_sequence`` is the sequence of the champion record the caller
        decided on (0 for none); when another writer moved the pointer since,
        ``ConcurrentUpdateError`` is raised. Promoting the same version for the
        same run again returns the existing record, so a retried promotion is safe.
        """
        current = self.champion()
        if (
            current is not None
            and current.action == action
            and current.version == version
            and current.run == run
        ):
            return current
        seen = current.sequence if current else 0
        if expected_sequence is not None and expected_sequence != seen:
            raise ConcurrentUpdateError(
                f"champion pointer is at record {seen}, not {expected_sequence}: "
                "another writer moved it"
            )
        metadata = self.metadata(version)
        record = ChampionRecord(
            sequence=seen + 1,
            action=action,
            version=version,
            sha256=metadata.sha256,
            model_uri=self.model_uri(version),
            previous_version=current.version if current else None,
            run=run,
            reason=reason,
            at=self.clock(),
        )
        body = record.model_dump_json(by_alias=True, exclude_none=True, indent=2).encode()
        if not self.store.put_if_absent(f"{CHAMPION}{record.sequence:012d}.json", body):
            raise ConcurrentUpdateError(
                f"champion record {record.sequence} was written by another writer first; "
                f"promotion of {version} not applied"
            )
        _HEADS.advanced(self.store.location, record)
        return record
