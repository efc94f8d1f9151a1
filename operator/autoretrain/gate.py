"""``python -m autoretrain.gate``: the offline gate Job's entry point.

The work happens in ``autoretrain.gates.runner``.
"""

from __future__ import annotations

import sys

from autoretrain.gates.runner import main

if __name__ == "__main__":
    sys.exit(main())
