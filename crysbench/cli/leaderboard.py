"""``crysbench leaderboard {check,new}``: validate boards (CI) or create one.

The work is :func:`crysbench.leaderboard.check_leaderboards` and
:func:`crysbench.leaderboard.create_board`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "run_check", "run_new"]


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``leaderboard`` and its actions to the ``crysbench`` subparsers."""
    from crysbench.leaderboard import RANK_METRICS

    lb = sub.add_parser(
        "leaderboard",
        help="check boards and regenerate their tables",
        description="Validate leaderboard submissions (run by CI) or create a board.",
    )
    lsub = lb.add_subparsers(dest="leaderboard_command", metavar="ACTION", required=True)
    c = lsub.add_parser(
        "check",
        help="validate every submission; fail on a stale table",
        description="Validate every submission under DIR and compare each board's README.md "
        "with the regenerated table; exit 1 on any problem.",
    )
    c.add_argument("dir", nargs="?", metavar="DIR", help="default: the repository's leaderboards/")
    c.add_argument("--write", action="store_true", help="regenerate the tables instead")
    c.add_argument("--store", action="append", default=[], metavar="STORE",
                   help="re-score committed predictions on this store (repeatable)")  # fmt: skip
    c.set_defaults(func=run_check, cli_command="leaderboard check")
    n = lsub.add_parser(
        "new",
        help="create an empty board for a store's test split",
        description="Freeze a board (board.json + README.md) for the store's test split.",
    )
    n.add_argument("store")
    n.add_argument("--root", help="leaderboards folder (default: the repository's)")
    n.add_argument("--dir", help="board folder (default: ROOT/<variant>/<version>)")
    n.add_argument("--label", default="bundled demo", help="what the store is (shown)")
    n.add_argument("--rank-by", default="phase_error", choices=sorted(RANK_METRICS))
    n.set_defaults(func=run_new, cli_command="leaderboard new")
    return lb


def run_check(args: argparse.Namespace) -> int:
    """Check every board; exit 1 listing the problems on stderr."""
    from crysbench.leaderboard import check_leaderboards, count_entries, default_root, find_boards
    from crysbench.store import open_store

    root = Path(args.dir) if args.dir else default_root()
    stores = [open_store(p) for p in args.store]
    problems = check_leaderboards(root, write=args.write, stores=stores)
    boards = find_boards(root)
    n_entries = sum(count_entries(b) for b in boards)
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"crysbench leaderboard check: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    verb = "written" if args.write else "up to date"
    print(f"ok: {len(boards)} board(s), {n_entries} submission(s) valid; tables {verb}")
    return 0


def run_new(args: argparse.Namespace) -> int:
    """Create the board and name its two files."""
    from crysbench.leaderboard import create_board, show_path

    path = create_board(
        args.store, root=args.root, path=args.dir, label=args.label, rank_by=args.rank_by
    )
    print(f"wrote {show_path(path / 'board.json')} and {show_path(path / 'README.md')}")
    return 0
