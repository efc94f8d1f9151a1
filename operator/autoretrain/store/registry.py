"""The model registry: immutable versions and a champion pointer with its history.

Layout under the artifact URI::

    versions/<version>/model.skops        the skops artifact
    versions/<version>/metadata.json      written last, create-only: seals the version
    versions/<version>/gate-report.json   the offline gate's full report
    champion/000000000001.json            pointer records, one per promotion or rollback

The champion pointer is a sequence of create-only records; the newest one is
the champion. Moving the pointer means creating record ``n + 1`` with an atomic
create-only write, so of two writers that both saw record ``n`` exactly one
succeeds and the other gets ``ConcurrentUpdateError``: an update is never lost,
and the history of promotions and rollbacks is the pointer itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Literal

from pydantic import Field, ValidationError

from autoretrain.api.base import ApiModel
from autoretrain.store.errors import (
    ConcurrentUpdateError,
    ObjectNotFoundError,
    StoreError,
    VersionExistsError,
)
from autoretrain.store.metadata import GATE_REPORT_FILE, METADATA_FILE, MODEL_FILE, ModelMetadata
from autoretrain.store.models import sha256_hex
from autoretrain.store.objects import ObjectStore, open_store

VERSIONS = "versions/"
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


def write_version(store: ObjectStore, folder: str, model: bytes, metadata: ModelMetadata) -> str:
    """Write a version's artifact, then seal it with its metadata (create-only).

    ``folder`` is the version's key prefix in ``store`` ("" when the store is
    opened on the version folder itself). Until the metadata exists the version
    is unsealed, and a retried training attempt may rewrite the artifact.
    Raises ``VersionExistsError`` when the version is already sealed. Returns
    the artifact's URI.
    """
    if metadata.sha256 != sha256_hex(model):
        raise ValueError("the metadata must carry the artifact's sha256")
    if store.exists(folder + METADATA_FILE):
        raise VersionExistsError(f"version {metadata.version} already exists and is immutable")
    store.put(folder + metadata.model_file, model)
    body = metadata.model_dump_json(by_alias=True, exclude_none=True, indent=2).encode()
    if not store.put_if_absent(folder + METADATA_FILE, body):
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
        return f"{VERSIONS}{version}/{name}"

    def version_uri(self, version: str) -> str:
        """Folder URI of a version, ending with '/'."""
        return self.store.uri_of(self._key(version, MODEL_FILE)).removesuffix(MODEL_FILE)

    def model_uri(self, version: str) -> str:
        """Full URI of a version's artifact."""
        return self.store.uri_of(self._key(version, MODEL_FILE))

    def is_sealed(self, version: str) -> bool:
        """Whether the version's metadata exists, which makes it immutable."""
        return self.store.exists(self._key(version, METADATA_FILE))

    def publish(self, version: str, model: bytes, metadata: ModelMetadata) -> ModelMetadata:
        """Write a new version; see ``write_version``."""
        self._key(version, MODEL_FILE)  # validates the name
        if metadata.version != version:
            raise ValueError(f"metadata names version {metadata.version}, not {version}")
        write_version(self.store, f"{VERSIONS}{version}/", model, metadata)
        return metadata

    def metadata(self, version: str) -> ModelMetadata:
        """The sealed metadata of a version; raises ``ObjectNotFoundError``."""
        raw = self.store.get(self._key(version, METADATA_FILE))
        try:
            return ModelMetadata.model_validate_json(raw)
        except ValidationError as error:
            raise StoreError(f"metadata of version {version} is invalid: {error}") from error

    def write_gate_report(self, version: str, report: bytes) -> str:
        """Store a version's gate report; returns its URI."""
        key = self._key(version, GATE_REPORT_FILE)
        self.store.put(key, report)
        return self.store.uri_of(key)

    def versions(self) -> list[ModelMetadata]:
        """Every sealed version, oldest first."""
        names = {
            key[len(VERSIONS) :].split("/", 1)[0]
            for key in self.store.list(VERSIONS)
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
        """The current champion record, or None before the first promotion."""
        history = self.history()
        return history[-1] if history else None

    def last_known_good(self) -> str | None:
        """The newest earlier champion that was never rolled back from."""
        history = self.history()
        if not history:
            return None
        current = history[-1].version
        rolled_back_from = {r.previous_version for r in history if r.action == "Rollback"}
        for record in reversed(history[:-1]):
            if record.version != current and record.version not in rolled_back_from:
                return record.version
        return None

    def promote(
        self,
        version: str,
        *,
        expected_sequence: int | None = None,
        run: str | None = None,
        reason: str | None = None,
    ) -> ChampionRecord:
        """Make a sealed version the champion.

        ``expected_sequence`` is the sequence of the champion record the caller
        decided on (0 for none); when another writer moved the pointer since,
        ``ConcurrentUpdateError`` is raised. Promoting the same version for the
        same run again returns the existing record, so a retried promotion is safe.
        """
        current = self.champion()
        if (
            current is not None
            and current.action == "Promote"
            and current.version == version
            and current.run == run
        ):
            return current
        return self._move("Promote", version, current, expected_sequence, run, reason)

    def rollback(
        self,
        *,
        to_version: str | None = None,
        expected_sequence: int | None = None,
        run: str | None = None,
        reason: str | None = None,
    ) -> ChampionRecord:
        """Point the champion back to ``to_version``, by default the last known good one."""
        target = to_version or self.last_known_good()
        if target is None:
            raise StoreError("no earlier good version to roll back to")
        return self._move("Rollback", target, self.champion(), expected_sequence, run, reason)

    def _move(
        self,
        action: Literal["Promote", "Rollback"],
        version: str,
        current: ChampionRecord | None,
        expected_sequence: int | None,
        run: str | None,
        reason: str | None,
    ) -> ChampionRecord:
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
                f"{action.lower()} of {version} not applied"
            )
        return record

    # -- retention --------------------------------------------------------------

    def apply_retention(self, keep_latest: int, keep: Collection[str] = ()) -> list[str]:
        """Delete old sealed versions; returns the deleted names.

        Kept: the ``keep_latest`` newest versions, the champion, the last known
        good version and any named in ``keep``. Unsealed versions are left alone,
        since a training Job may be writing them.
        """
        if keep_latest < 0:
            raise ValueError("keep_latest must be >= 0")
        protected = set(keep)
        champion = self.champion()
        if champion is not None:
            protected.add(champion.version)
        last_good = self.last_known_good()
        if last_good is not None:
            protected.add(last_good)
        versions = [m.version for m in self.versions()]
        newest = set(versions[len(versions) - keep_latest :]) if keep_latest else set()
        deleted = []
        for version in versions:
            if version in protected or version in newest:
                continue
            keys = self.store.list(f"{VERSIONS}{version}/")
            # The metadata goes last: a version stays sealed, and so visible to a
            # later retention pass, until all its other files are gone.
            for key in sorted(keys, key=lambda k: k.endswith("/" + METADATA_FILE)):
                self.store.delete(key)
            deleted.append(version)
        return deleted
