"""The termination message: how a Job's pod reports its result to the operator.

Kubernetes keeps at most 4096 bytes of it, so callers hand in a payload that
fits; ``write_termination_message`` refuses a larger one rather than letting
the API server cut the JSON in half.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

TERMINATION_PATH_ENV = "AUTORETRAIN_TERMINATION_MESSAGE_PATH"
DEFAULT_TERMINATION_PATH = "/dev/termination-log"
MAX_TERMINATION_BYTES = 4096


def compact_json(payload: Mapping[str, object]) -> str:
    """JSON without spaces, as short as the message allows."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=False, allow_nan=False)


def write_termination_message(
    payload: Mapping[str, object], env: Mapping[str, str] | None = None
) -> str:
    """Write ``payload`` to the termination-message path and echo it to stdout.

    Outside a pod (no ``AUTORETRAIN_TERMINATION_MESSAGE_PATH`` and no writable
    ``/dev/termination-log``) the stdout copy is all there is.
    """
    text = compact_json(payload)
    if len(text.encode()) > MAX_TERMINATION_BYTES:
        raise ValueError(f"termination message of {len(text.encode())} bytes exceeds 4096")
    print(text, flush=True)
    explicit = (os.environ if env is None else env).get(TERMINATION_PATH_ENV)
    path = Path(explicit or DEFAULT_TERMINATION_PATH)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        if explicit:
            raise
        print(f"note: termination message not written to {path}: {error}", file=sys.stderr)
    return text
