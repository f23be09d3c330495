"""Command-line entry point: ``crysbench <command> ...``; one module per subcommand.

Each subcommand module has ``add_parser(sub)`` (adds its parser to the ``crysbench``
subparsers) and ``run(args) -> int`` (calls one public function and prints the outcome).
No module outside ``crysbench.cli`` parses arguments.

Error and exit-code policy, the same for every subcommand (:func:`main`):

- ``0``: done; ``1``: the command ran and found problems (``verify``, ``leaderboard
  check``) or failed with a ``ValueError``/``KeyError``/``OSError``/``RuntimeError``,
  reported as one line ``crysbench <command>: error: <message>`` on stderr, never a
  traceback; ``2``: bad usage (argparse), no command, or an argument naming something
  unusable that is found before any work (``evaluate --store`` that does not open,
  ``--out`` that cannot be written or is locked); ``130``: interrupted (Ctrl-C).
- A wrong combination of arguments found after parsing raises :class:`UsageError` (a
  ``ValueError``: one line, exit 1).

Examples
--------
>>> parser = make_parser()
>>> parser.parse_args(["info", "x.zarr"]).cli_command
'info'
"""

from __future__ import annotations

import argparse
import sys

from crysbench._version import __version__
from crysbench.cli import build, evaluate, export, info, leaderboard, submit, verify
from crysbench.cli._args import UsageError

__all__ = ["COMMANDS", "UsageError", "main", "make_parser"]

#: Subcommand modules, in the order ``crysbench --help`` lists them.
COMMANDS = (build, info, verify, export, evaluate, submit, leaderboard)


def make_parser() -> argparse.ArgumentParser:
    """The ``crysbench`` parser with one subcommand per module of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="crysbench",
        description="Datasets, scoring and leaderboards for learning to phase protein crystals.",
    )
    parser.add_argument("--version", action="version", version=f"crysbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.add_parser(sub)
    return parser


def _message(exc: BaseException) -> str:
    """One line for an error: a bare ``KeyError('cell')`` says what is missing."""
    if isinstance(exc, KeyError) and exc.args:
        arg = exc.args[0]
        if isinstance(arg, str) and " " in arg:
            return arg  # crysbench's own messages
        return f"missing {arg!r} (KeyError: an incomplete or damaged file)"
    return str(exc)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (see the module docstring)."""
    command = None
    try:
        parser = make_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help()
            return 2
        command = getattr(args, "cli_command", args.command)
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        hint = (
            "; finished entries are kept, run the same command to resume"
            if command == "build"
            else ""
        )
        print(f"crysbench{' ' + command if command else ''}: interrupted{hint}", file=sys.stderr)
        return 130
    except (ValueError, KeyError, OSError, RuntimeError) as exc:
        print(f"crysbench {command}: error: {_message(exc)}", file=sys.stderr)
        return 1
