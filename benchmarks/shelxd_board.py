"""Summary of a SHELXD-baseline board entry: solved, hand right/wrong, aligned vs unaligned scores.

Reads the evaluator's ``results.json`` of an entry (per-example ``phase_error`` after the
origin/hand search, ``phase_error_unaligned``, ``inverted``, ``pearson``) and, with
``--store`` and ``--pred``, the predicted maps and the true maps to add the Pearson
correlation a map would reach in the right hand (the map inverted where the evaluator's
search inverted it). Offline scoring only: the truth is read here, never by the solver.
"Solved" = phase error < 60° after the search; "hand right" = the search kept the hand.

Usage::

    python benchmarks/shelxd_board.py leaderboards/const-res/1/shelxd-dualspace/results.json \
        --store runs/const-res@1.zarr --pred runs/test/sxh-const-res@1
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from baselines.shelxd.hand import invert_map


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("results")
    p.add_argument("--store", default=None)
    p.add_argument("--pred", default=None)
    args = p.parse_args(argv)
    res = json.loads(Path(args.results).read_text())
    rows = res["examples"]
    store = None
    if args.store and args.pred:
        from crysbench.store import open_store

        store = open_store(args.store)
    solved = [r for r in rows if r["phase_error"] < 60.0]
    right = [r for r in solved if not r["inverted"]]
    pc, pc_hand = [], []
    for r in rows:
        pc.append(r["pearson"])
        if store is not None:
            rho = np.load(Path(args.pred) / f"{r['id']}.npy")
            true = np.asarray(store.get(r["id"]).density)
            fixed = invert_map(rho) if r["inverted"] else rho
            pc_hand.append(float(np.corrcoef(fixed.ravel(), true.ravel())[0, 1]))
    out = {
        "variant": res["variant"],
        "examples": len(rows),
        "solved": len(solved),
        "solved_pct": round(100 * len(solved) / len(rows), 1),
        "hand_right": len(right),
        "hand_wrong": len(solved) - len(right),
        "pearson_unaligned": round(float(np.mean(pc)), 3),
        "pearson_right_hand": round(float(np.mean(pc_hand)), 3) if pc_hand else None,
        "phase_error_aligned": round(float(np.mean([r["phase_error"] for r in rows])), 1),
        "phase_error_unaligned": round(
            float(np.mean([r["phase_error_unaligned"] for r in rows])), 1
        ),
        "aggregate_pearson": round(res["aggregate"]["pearson"], 3),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
