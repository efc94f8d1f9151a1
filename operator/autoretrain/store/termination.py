"""Writes a pod's report to its termination message, where the operator reads it.

The trainer, the gate runner and the model server all write through here. What
a message says and how it fits in 4096 bytes is the pod contract's
(``autoretrain.api.pods``): a failure's text is shortened to fit, a report that
does not fit is refused whole. The file write lives here rather than beside
the contract because ``api`` does no I/O (the "decision core does no I/O"
import contract), and ``store`` is the lowest layer that does and that all
three pods may import.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from autoretrain.api.pods import PodEnv, PodReport

#: Where the kubelet mounts the termination message unless the pod says otherwise.
DEFAULT_TERMINATION_PATH = Path("/dev/termination-log")


def write_termination_message(report: PodReport, env: Mapping[str, str] | None = None) -> str:
    """Write ``report`` as the termination message, echo it to stdout, and return it.

    The file is ``AUTORETRAIN_TERMINATION_MESSAGE_PATH`` when set, else
    ``/dev/termination-log`` when it exists: the kubelet creates it, so outside a
    pod nothing is written to /dev and the stdout copy is all there is. A set
    path that cannot be written raises; a failure to write the default path is
    noted on stderr, since the stdout copy still reaches the pod's log.
    Raises ``ReportError`` for a report that does not fit.
    """
    text = report.to_termination_message()
    print(text, flush=True)
    configured = (os.environ if env is None else env).get(PodEnv.TERMINATION_MESSAGE_PATH)
    if configured:
        Path(configured).write_text(text, encoding="utf-8")
    elif DEFAULT_TERMINATION_PATH.exists():
        try:
            DEFAULT_TERMINATION_PATH.write_text(text, encoding="utf-8")
        except OSError as error:
            print(f"termination message not written: {error}", file=sys.stderr)
    return text
