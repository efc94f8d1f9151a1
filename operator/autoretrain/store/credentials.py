"""S3 settings from the Secret a ModelRetrain names, for the operator's own client.

The training and gate pods get the whole Secret as their environment; the
operator takes the same keys from it, so both talk to the same endpoint as the
same identity. A Secret that is missing, or lacks a key the operator needs, is a
``CredentialsError`` naming the Secret and the key: falling back to the
operator's own credentials would read and move a champion the pods cannot see.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from autoretrain.store.errors import CredentialsError

#: What the operator takes from the Secret.
S3_SECRET_KEYS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AUTORETRAIN_S3_ADDRESSING_STYLE",
)
#: Without these boto3 would look for credentials elsewhere, which must not happen.
REQUIRED_S3_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def s3_settings_from_secret(name: str, secret: Mapping[str, Any] | None) -> dict[str, str]:
    """The S3 settings in a Secret as the API server returns it (base64 ``data``).

    ``name`` is how messages name the Secret, e.g. "ml/churn-s3". Raises
    ``CredentialsError`` for a missing Secret (None), a key that is not base64
    text, or a missing or empty required key; messages name keys, never values.
    """
    if secret is None:
        raise CredentialsError(
            f"Secret {name} named by spec.artifacts.secretRef does not exist; "
            f"it needs {' and '.join(REQUIRED_S3_KEYS)}"
        )
    data = secret.get("data") or {}
    settings: dict[str, str] = {}
    for key in S3_SECRET_KEYS:
        if key not in data:
            continue
        try:
            settings[key] = base64.b64decode(data[key], validate=True).decode()
        except (binascii.Error, UnicodeDecodeError, TypeError, ValueError):
            raise CredentialsError(f"Secret {name}: key {key} is not base64-encoded text") from None
    missing = [key for key in REQUIRED_S3_KEYS if not settings.get(key)]
    if missing:
        raise CredentialsError(
            f"Secret {name} has no {' and no '.join(missing)}; the operator uses only "
            "the Secret's credentials, never its own"
        )
    return settings
