"""``python -m autoretrain.train``: see ``autoretrain.train.cli``."""

from __future__ import annotations

import sys

from autoretrain.train.cli import main

sys.exit(main())
