"""Command-line entry point: ``crysbench <command> ...``."""

from __future__ import annotations

import argparse
import sys

from crysbench._version import __version__

__all__ = ["main", "make_parser"]


def make_parser() -> argparse.ArgumentParser:
    """The ``crysbench`` parser with one subcommand per task."""
    parser = argparse.ArgumentParser(
        prog="crysbench",
        description="Datasets, scoring and leaderboards for learning to phase protein crystals.",
    )
    parser.add_argument("--version", action="version", version=f"crysbench {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    parser = make_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
