"""sha256 digests of artifacts and metadata, and the check made before any load.

Hashing needs only hashlib. It lives apart from ``models`` (which loads skops,
and with it scikit-learn, scipy and pandas) because the operator hashes
registry records too, and must not load the ML stack to do it.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from autoretrain.store.errors import IntegrityError

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def sha256_hex(data: bytes) -> str:
    """Lowercase hex sha256 of ``data``.

    >>> sha256_hex(b"")[:16]
    'e3b0c44298fc1c14'
    """
    return hashlib.sha256(data).hexdigest()


def verify_sha256(data: bytes, expected: str, what: str) -> None:
    """Raise ``IntegrityError`` unless ``data`` hashes to ``expected``."""
    expected = expected.strip().lower()
    if not _SHA256.match(expected):
        raise IntegrityError(f"{what}: no valid sha256 to verify against (got {expected!r})")
    actual = sha256_hex(data)
    if not hmac.compare_digest(actual, expected):
        raise IntegrityError(f"{what}: sha256 mismatch, expected {expected}, found {actual}")
