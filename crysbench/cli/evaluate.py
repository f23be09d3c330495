"""``crysbench evaluate``: score predicted maps against a store (SPEC §6).

The output is checked before any scoring: ``--out`` must be a new path or a results file
crysbench wrote, in a writable folder; ``OUT.lock`` makes a second evaluate writing the
same ``--out`` fail at once; rows are journalled to ``OUT.partial.jsonl`` so that after
Ctrl-C or SIGKILL the same command resumes and writes the same ``results.json``.
Scoring is :func:`crysbench.evaluator.evaluate`; the table is
:func:`crysbench.cli.report.format_results`.

Exit codes (the :mod:`crysbench.cli` policy): 0 success; 1 invalid predictions or an
evaluation failure; 2 an argument naming something unusable (``--store`` that does not
open, ``--out`` that cannot be written or is locked); 130 interrupted (finished rows kept
when ``--out`` is given).

Examples
--------
>>> import argparse
>>> p = argparse.ArgumentParser(); add_arguments(p)
>>> a = p.parse_args(["preds", "--store", "s.zarr", "--engine", "none", "-j", "4"])
>>> a.engine, a.jobs, a.backend
('none', 4, 'loky')
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_arguments", "add_parser", "check_out", "journal_path", "lock_path", "run"]


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``evaluate`` to the ``crysbench`` subparsers.

    Parameters
    ----------
    sub : argparse subparsers action
        From ``parser.add_subparsers()``.

    Returns
    -------
    argparse.ArgumentParser
        The ``evaluate`` parser.
    """
    p = sub.add_parser(
        "evaluate",
        help="score predicted maps against a store",
        description="Score predicted density maps (SPEC §6).",
    )
    add_arguments(p)
    p.set_defaults(func=run, cli_command="evaluate")
    return p


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``crysbench evaluate`` arguments to a (sub)parser."""
    parser.add_argument(
        "predictions", help="folder of <id>.npy / <id>.ccp4 / <id>.map, a zarr group or .npz"
    )
    parser.add_argument("--store", required=True, help="store built by `crysbench build`")
    parser.add_argument("--split", default="test", help="split to score (default: test)")
    parser.add_argument(
        "--engine", default="builtin", choices=("builtin", "shelxe", "none"),
        help="refinement engine for the refinement rate (default: builtin)",
    )  # fmt: skip
    parser.add_argument("--allow-missing", action="store_true", help="score a subset")
    parser.add_argument("--origin-search", action="store_true", help="align origins first")
    parser.add_argument("--hand-search", action="store_true", help="also try the enantiomer")
    parser.add_argument("--jobs", "-j", type=int, default=1, help="worker processes")
    parser.add_argument(
        "--backend", choices=("loky", "dask"), default="loky",
        help="loky: processes on this machine; dask: a cluster (--scheduler)",
    )  # fmt: skip
    parser.add_argument("--scheduler", help="dask scheduler address (tcp://host:8786)")
    parser.add_argument("--out", help="results.json path (plots are written next to it); resumable")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar or table")


def journal_path(out: str | Path) -> Path:
    """The row journal beside a results file: ``OUT.partial.jsonl``."""
    out = Path(out)
    return out.with_name(out.name + ".partial.jsonl")


def lock_path(out: str | Path) -> Path:
    """The lock file beside a results file: ``OUT.lock``."""
    out = Path(out)
    return out.with_name(out.name + ".lock")


def check_out(out: str | Path) -> Path:
    """Refuse an ``--out`` that cannot be written, or that crysbench did not write.

    Raises
    ------
    ValueError
        ``out`` is a folder, a file that is not a crysbench results file, or in a folder
        that cannot be created or written.
    """
    out = Path(out)
    if out.is_dir():
        raise ValueError(f"--out {out} is a folder; give a file name such as {out}/results.json")
    if out.exists():
        try:
            ok = "schema_version" in json.loads(out.read_text())
        except (OSError, ValueError, TypeError):
            ok = False
        if not ok:
            raise ValueError(
                f"--out {out} exists and is not a crysbench results file; not replacing it"
            )
    parent = out.parent if str(out.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"--out {out}: cannot create {parent} ({exc.strerror})") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"--out {out}: folder {parent} is not writable")
    return out


def _write_atomic(results: dict, out: Path) -> Path:
    from crysbench.results import write_results

    tmp = out.with_name(out.name + ".tmp")
    write_results(results, tmp)
    os.replace(tmp, out)
    return out


def run(args: argparse.Namespace) -> int:
    """Run ``crysbench evaluate``; returns the exit code (errors go to stderr, no traceback).

    Parameters
    ----------
    args : argparse.Namespace
        Parsed by a parser given :func:`add_arguments`.

    Returns
    -------
    int
        0 success, 1 invalid predictions or evaluation failure, 2 store/``--out`` error,
        130 interrupted (finished rows kept when ``--out`` is given).
    """
    from crysbench.journal import JournalError, LockedError, OutputLock
    from crysbench.predictions import EvaluationError

    lock = None
    out = None
    try:
        if args.out:
            out = check_out(args.out)
            lock = OutputLock(lock_path(out), "crysbench evaluate").acquire()
    except (ValueError, LockedError) as exc:
        print(f"crysbench evaluate: {exc}", file=sys.stderr)
        return 2
    journal = journal_path(out) if out is not None else None
    try:
        return _run(args, out, journal, EvaluationError, JournalError)
    except KeyboardInterrupt:
        if journal is not None and journal.exists():
            n = max(0, sum(1 for _ in open(journal, "rb")) - 1)
            print(
                f"crysbench evaluate: interrupted; {n} scored rows kept in {journal}: "
                "run the same command to resume",
                file=sys.stderr,
            )
        else:
            print(
                "crysbench evaluate: interrupted; nothing kept (give --out to make an "
                "evaluation resumable)",
                file=sys.stderr,
            )
        return 130
    finally:
        if lock is not None:
            lock.release()


def _run(args: Any, out: Path | None, journal: Path | None, EvaluationError, JournalError) -> int:
    from crysbench import evaluator

    try:
        from crysbench.store import open_store

        store = open_store(args.store)
    except Exception as exc:
        print(f"crysbench evaluate: cannot open store {args.store}: {exc}", file=sys.stderr)
        return 2
    try:
        results = evaluator.evaluate(
            args.predictions, store, split=args.split, engine=args.engine,
            allow_missing=args.allow_missing, origin_search=args.origin_search,
            hand_search=args.hand_search, n_jobs=args.jobs, progress=not args.quiet,
            journal=journal, backend=getattr(args, "backend", "loky"),
            scheduler=getattr(args, "scheduler", None),
        )  # fmt: skip
    except (EvaluationError, JournalError) as exc:
        print(f"crysbench evaluate: {exc}", file=sys.stderr)
        return 1
    except (ValueError, OSError, KeyError, RuntimeError) as exc:
        print(f"crysbench evaluate: error: {exc}", file=sys.stderr)
        return 1
    if not args.quiet:
        from crysbench.cli.report import format_results

        print(format_results(results))
    if out is not None:
        _write_atomic(results, out)
        if journal is not None:
            journal.unlink(missing_ok=True)
        if not args.no_plots:
            try:
                from crysbench.cli.plots import plot_shells

                for p in plot_shells(results, out.with_suffix("")):
                    if not args.quiet:
                        print(f"wrote {p}")
            except Exception as exc:  # plotting must never lose the results
                print(f"crysbench evaluate: plots skipped: {exc}", file=sys.stderr)
        if not args.quiet:
            print(f"wrote {out}")
    missing = results["aggregate"]["missing"]
    if missing:
        from crysbench.validation import format_ids

        print(
            f"crysbench evaluate: {len(missing)} missing ids: {format_ids(missing)}",
            file=sys.stderr,
        )
    return 0
