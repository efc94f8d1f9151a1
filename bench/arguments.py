"""The command line every cluster benchmark shares: its docstring as help, plus its knobs."""

from __future__ import annotations

import argparse


def parse(description: str | None, **defaults: object) -> argparse.Namespace:
    """``--name`` options from keyword defaults; each option takes its default's type."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    for name, default in defaults.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    return parser.parse_args()
