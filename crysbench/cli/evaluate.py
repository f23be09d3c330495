"""``crysbench evaluate``: score predicted maps against a store.

Thin: the arguments and the run (with its own exit codes) are
:func:`crysbench.evaluate.add_arguments` and :func:`crysbench.evaluate.run_cli`.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``evaluate`` to the ``crysbench`` subparsers."""
    from crysbench.evaluate import add_arguments

    p = sub.add_parser(
        "evaluate",
        help="score predicted maps against a store",
        description="Score predicted density maps (SPEC §6).",
    )
    add_arguments(p)
    p.set_defaults(func=run, cli_command="evaluate")
    return p


def run(args: argparse.Namespace) -> int:
    """Score the predictions (:func:`crysbench.evaluate.run_cli`)."""
    from crysbench.evaluate import run_cli

    return run_cli(args)
