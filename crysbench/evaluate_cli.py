"""``crysbench evaluate`` on the command line: arguments, output checks, resume.

The output is checked before any scoring: ``--out`` must be a new path or a results file
crysbench wrote, in a writable folder; ``OUT.lock`` makes a second evaluate writing the
same ``--out`` fail at once; rows are journalled to ``OUT.partial.jsonl`` so that after
Ctrl-C or SIGKILL the same command resumes and writes the same ``results.json``.

Examples
--------
>>> import argparse
>>> from crysbench.evaluate_cli import add_arguments
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

__all__ = ["add_arguments", "run_cli", "format_table", "check_out", "journal_path", "lock_path"]


def _f(x: Any, fmt: str = ".3f") -> str:
    return "—" if x is None else format(x, fmt)


def format_table(results: dict) -> str:
    """Human-readable summary: headline numbers and the shared-shell table."""
    a = results["aggregate"]
    st = a.get("stats", {})
    lines = [
        f"crysbench evaluate  variant {results['variant']}  split {results['split']}  "
        f"engine {results['engine']}  examples {a['n_examples']}  missing {len(a['missing'])}",
        "",
        f"{'metric':<24}{'mean':>10}{'median':>10}{'std':>10}",
    ]
    for field, fmt in (
        ("pearson", ".3f"), ("amplitude_pearson", ".3f"), ("phase_error", ".1f"),
        ("phase_error_weighted", ".1f"), ("final_phase_error_weighted", ".1f"),
    ):  # fmt: skip
        if field in st:
            s = st[field]
            lines.append(
                f"{field:<24}{_f(s['mean'], fmt):>10}{_f(s['median'], fmt):>10}"
                f"{_f(s['std'], fmt):>10}"
            )
    lines.append(f"{'fraction < 60°':<24}{_f(a['fraction_below_60']):>10}")
    lines.append(f"{'refined fraction':<24}{_f(a['refined_fraction']):>10}")
    lines += ["", f"{'shell d (Å)':<18}{'n ex':>6}{'phase err':>11}{'frac<60':>9}"]
    d = results["shell_d"]
    for i, pe in enumerate(a["phase_error_by_shell"]):
        lo = "inf" if d[i] is None else f"{d[i]:.2f}"
        hi = "inf" if d[i + 1] is None else f"{d[i + 1]:.2f}"
        lines.append(
            f"{lo + '–' + hi:<18}{a['n_by_shell'][i]:>6}{_f(pe, '.1f'):>11}"
            f"{_f(a['fraction_below_60_by_shell'][i], '.2f'):>9}"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- CLI
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
    from crysbench.evaluate import write_results

    tmp = out.with_name(out.name + ".tmp")
    write_results(results, tmp)
    os.replace(tmp, out)
    return out


def run_cli(args: argparse.Namespace) -> int:
    """Run ``crysbench evaluate``; returns the exit code (errors go to stderr, no traceback).

    Exit codes: 0 success, 1 invalid predictions or evaluation failure, 2 store/usage error,
    130 interrupted (finished rows kept when ``--out`` is given).
    """
    from crysbench.evaluate import EvaluationError, evaluate
    from crysbench.journal import JournalError, LockedError, OutputLock

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
        return _run(args, out, journal, evaluate, EvaluationError, JournalError)
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


def _run(
    args: Any, out: Path | None, journal: Path | None, evaluate, EvaluationError, JournalError
) -> int:
    try:
        from crysbench.store import open_store

        store = open_store(args.store)
    except Exception as exc:
        print(f"crysbench evaluate: cannot open store {args.store}: {exc}", file=sys.stderr)
        return 2
    try:
        results = evaluate(
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
        print(format_table(results))
    if out is not None:
        _write_atomic(results, out)
        if journal is not None:
            journal.unlink(missing_ok=True)
        if not args.no_plots:
            try:
                from crysbench.plots import plot_shells

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
