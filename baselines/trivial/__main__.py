"""``python -m baselines.trivial KIND --store STORE [--split test] --out DIR``."""

from __future__ import annotations

import argparse
import sys

from baselines.trivial.maps import KINDS
from baselines.trivial.predict import predict_split


def main(argv: list[str] | None = None) -> int:
    """Command line: write one trivial map per example of a split."""
    p = argparse.ArgumentParser(
        prog="python -m baselines.trivial",
        description="Trivial baseline maps (no learning, no phasing): the floor of a board.",
    )
    p.add_argument("kind", choices=KINDS, help="zero | patterson | blob | chain")
    p.add_argument("--store", required=True, help="crysbench store (e.g. const-res.zarr)")
    p.add_argument("--split", default="test", help="split to predict (default test)")
    p.add_argument("--out", default="predictions", help="output folder (default predictions/)")
    args = p.parse_args(argv)
    n = predict_split(args.store, args.kind, args.out, split=args.split)
    print(f"wrote {n} {args.kind} maps to {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
