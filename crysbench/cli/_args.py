"""argparse helpers and the usage error shared by the subcommands.

The lowest module of :mod:`crysbench.cli`: the subcommand modules import from it, and
the package re-exports :class:`UsageError`, so imports run one way
(``crysbench.cli → subcommand → _args``).
"""

from __future__ import annotations

import argparse

__all__ = ["UsageError", "positive"]


class UsageError(ValueError):
    """Arguments that parse but do not go together; reported as one line, exit 1."""


def positive(text: str) -> int:
    """argparse type: an integer >= 1.

    Examples
    --------
    >>> positive("3")
    3
    """
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n
