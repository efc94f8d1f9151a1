"""Safe model artifacts: skops archives, trusted types only, sha256 checked before loading.

Nothing here ever unpickles. A model is serialised with skops; loading first
checks the artifact's sha256 against the one recorded when it was written, then
refuses any archive that needs a type outside scikit-learn's and numpy's
defaults plus the short allowlist below. A pickle, a tampered byte or an
unexpected type raises before any of the model's code could run.

Importing this module loads skops, hence scikit-learn, scipy and pandas: only
the pods that train, gate or serve a model import it, never the operator (the
hashing they share with it is in ``digests``).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Collection
from typing import Any

import skops.io

from autoretrain.store.digests import verify_sha256
from autoretrain.store.errors import UnsafeArtifactError
from autoretrain.store.objects import read_uri

#: Types the reference trainer's estimators need beyond skops' default trust:
#: tree structures of the forests and boosting models, and numpy dtypes.
DEFAULT_TRUSTED_TYPES: frozenset[str] = frozenset(
    {
        "numpy.dtype",
        "sklearn.tree._tree.Tree",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    }
)

_PICKLE_PROTOCOL_MARK = 0x80


def dumps_model(model: Any) -> bytes:
    """The skops archive of a fitted scikit-learn model."""
    data: bytes = skops.io.dumps(model, compression=zipfile.ZIP_DEFLATED)
    return data


def loads_trusted(
    data: bytes, what: str = "artifact", trusted: Collection[str] = DEFAULT_TRUSTED_TYPES
) -> Any:
    """Load a skops archive whose every type is trusted; never unpickles.

    Raises ``UnsafeArtifactError`` for a pickle, anything that is not a skops
    archive, and an archive that needs an untrusted type.
    """
    if data[:1] == bytes([_PICKLE_PROTOCOL_MARK]):
        raise UnsafeArtifactError(f"{what} is a pickle; only skops archives are loaded")
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise UnsafeArtifactError(f"{what} is not a skops archive")
    try:
        untrusted = skops.io.get_untrusted_types(data=data)
    except Exception as error:
        raise UnsafeArtifactError(f"{what} is not a readable skops archive: {error}") from error
    refused = sorted(set(untrusted) - set(trusted))
    if refused:
        raise UnsafeArtifactError(f"{what} needs untrusted types: {', '.join(refused)}")
    try:
        return skops.io.loads(data, trusted=sorted(untrusted))
    except Exception as error:
        raise UnsafeArtifactError(f"{what} cannot be loaded: {error}") from error


def load_verified(uri: str, sha256: str, trusted: Collection[str] = DEFAULT_TRUSTED_TYPES) -> Any:
    """Load the skops model at ``uri`` after checking that its bytes hash to ``sha256``."""
    data = read_uri(uri)
    verify_sha256(data, sha256, uri)
    return loads_trusted(data, uri, trusted)
