"""``crysbench submit``: score predictions and write a leaderboard entry.

The workflow is :func:`crysbench.leaderboard.submit` (predictions) or
:func:`crysbench.leaderboard.write_submission` (``--results`` files already scored).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from crysbench.cli._args import UsageError

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``submit`` to the ``crysbench`` subparsers."""
    p = sub.add_parser(
        "submit",
        help="score predictions and write a leaderboard entry",
        description="Score predicted maps on the store's test split, validate, and write "
        "leaderboards/<variant>/<version>/<NAME>/ (results.json, meta.json); regenerates the "
        "board's table. One PREDICTIONS folder per training seed.",
    )
    p.add_argument("predictions", nargs="*", metavar="PREDICTIONS", help="one folder per seed")
    p.add_argument("--store", help="the store the predictions were made for")
    p.add_argument("--name", help="entry name (lowercase, digits, . _ -); required")
    p.add_argument("--meta", help="meta.json: method, authors, code link, …; required")
    p.add_argument("--meta-template", metavar="FILE", help="write a meta.json to fill in, exit")
    p.add_argument("--results", nargs="+", metavar="FILE", help="submit evaluator results.json "
                   "files (one per seed) instead of predictions")  # fmt: skip
    p.add_argument("--engine", default="builtin", choices=("builtin", "shelxe", "none"))
    p.add_argument("--root", help="leaderboards folder (default: the repository's)")
    p.add_argument("--board", help="board folder (default: found by the store's fingerprint)")
    p.add_argument("--files", nargs="+", default=[], help="extra files to include (code, …)")
    p.add_argument("--overwrite", action="store_true", help="replace your existing entry")
    p.add_argument("--origin-search", action="store_true", help="align origins first")
    p.add_argument("--hand-search", action="store_true", help="also try the enantiomer")
    p.add_argument("--jobs", "-j", type=int, default=1, help="evaluator worker processes")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument("--compact-predictions", action="store_true",
                   help="also commit predictions.npz (float16 structure factors) so CI can "
                   "re-score the entry")  # fmt: skip
    p.set_defaults(func=run, cli_command="submit")
    return p


def _read_results(files: list[str]) -> list[Any]:
    results = []
    for f in files:
        try:
            results.append(json.loads(Path(f).read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read {f}: {exc}") from None
    return results


def run(args: argparse.Namespace) -> int:
    """Write the entry and say what to commit."""
    from crysbench.leaderboard import find_board, show_path, submit, write_submission

    if args.meta_template:  # write a meta.json to fill in, then stop
        from crysbench.leaderboard.meta import write_meta_template

        try:
            path = write_meta_template(args.meta_template, args.name or "my-model")
        except FileExistsError as exc:
            raise UsageError(str(exc)) from None
        print(f"wrote {path}: replace its placeholder values, then submit with --meta {path}")
        return 0
    if not args.name or not args.meta:
        raise UsageError("--name and --meta are required (or --meta-template FILE)")
    if args.results:
        if args.predictions:
            raise UsageError("give PREDICTIONS or --results, not both")
        results = _read_results(args.results)
        fp = results[0].get("store_fingerprint") if isinstance(results[0], dict) else None
        variant = results[0].get("variant") if isinstance(results[0], dict) else None
        board = args.board or find_board(args.root, str(fp), variant)
        path = write_submission(
            board, args.name, results, args.meta, files=args.files, overwrite=args.overwrite
        )
    else:
        if not args.predictions or not args.store:
            raise UsageError("give PREDICTIONS and --store STORE (or --results FILE)")
        path = submit(
            args.predictions, args.store, args.name, args.meta, root=args.root,
            board=args.board, engine=args.engine, files=args.files,
            overwrite=args.overwrite, origin_search=args.origin_search,
            hand_search=args.hand_search, n_jobs=args.jobs, progress=not args.quiet,
            compact_predictions=args.compact_predictions,
        )  # fmt: skip
    print(f"wrote {show_path(path)}")
    print(f"updated {show_path(path.parent / 'README.md')}; commit both and open a pull request")
    return 0
