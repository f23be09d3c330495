"""Command line: ``python -m baselines.shelxd solve --store STORE --split test --out DIR``."""

from __future__ import annotations

import argparse
import sys

__all__ = ["make_parser", "main"]


def make_parser() -> argparse.ArgumentParser:
    """The argparse parser (exposed for documentation)."""
    p = argparse.ArgumentParser(
        prog="python -m baselines.shelxd",
        description="SHELXD-style ab-initio direct-methods baseline for crysbench.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("solve", help="solve a split of a store and write predicted maps")
    s.add_argument("--store", required=True, help="path or URL of a crysbench store")
    s.add_argument("--split", default="test", help="split to solve (default: test)")
    s.add_argument("--out", required=True, help="output folder for <id>.npy and trials.csv")
    s.add_argument("--jobs", type=int, default=1, help="examples in parallel (default 1)")
    s.add_argument("--trials", type=int, default=48, help="maximum trials per example")
    s.add_argument("--block", type=int, default=4, help="trials per early-stop block")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--engine", choices=("dualspace", "shelxd"), default="dualspace")
    s.add_argument("--limit", type=int, default=None, help="only the first N examples")
    s.add_argument("--no-hand", action="store_true",
                   help="keep the trial's enantiomer (no L-amino-acid hand decision)")  # fmt: skip
    s.add_argument(
        "--time-limit", type=float, default=None,
        help="seconds per example after which no new block starts (non-deterministic)",
    )  # fmt: skip
    h = sub.add_parser(
        "hand", help="the L-amino-acid hand decision on maps written by solve --no-hand (in place)"
    )
    h.add_argument("--store", required=True, help="path or URL of a crysbench store")
    h.add_argument("--split", default="test", help="split of the predictions (default: test)")
    h.add_argument("--out", required=True, help="folder of <id>.npy written by solve")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = make_parser().parse_args(argv)
    from baselines.shelxd.predict import solve_store

    try:
        from crysbench.store import open_store

        store = open_store(args.store)
    except Exception as exc:  # bad path, wrong format: a message, not a traceback
        print(f"error: cannot open store {args.store!r}: {exc}", file=sys.stderr)
        return 2
    try:
        ids = store.ids(args.split)
    except Exception as exc:
        print(f"error: split {args.split!r}: {exc}", file=sys.stderr)
        return 2
    if not ids:
        print(f"error: split {args.split!r} of {args.store} is empty", file=sys.stderr)
        return 2
    if args.command == "hand":
        from baselines.shelxd.predict import hand_store

        rows = hand_store(store, args.split, args.out)
        flipped = sum(r["inverted"] for r in rows)
        print(f"{len(rows)} maps: {flipped} inverted to the protein hand ({args.out}/hand.csv)")
        return 0
    rows = solve_store(
        store, args.split, args.out, jobs=args.jobs, limit=args.limit, trials=args.trials,
        block=args.block, seed=args.seed, engine=args.engine, time_limit=args.time_limit,
        hand=not args.no_hand,
    )  # fmt: skip
    n = len(rows)
    solved = sum(r["solved"] for r in rows)
    secs = sum(r["seconds"] for r in rows)
    if n:
        print(
            f"{n} examples: {solved} solved by own FOM ({100 * solved / n:.0f} %), "
            f"{secs / n:.1f} s per example; predictions in {args.out}"
        )
    else:
        print(f"nothing to do: all examples already in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
