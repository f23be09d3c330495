"""Development bench of the truth-free hand decision (baselines/shelxd/hand.py), train split only.

For every ``--every``-th train-split example of the given entries it scores
:func:`baselines.shelxd.hand.hand_scores` on maps of known hand — the true map, and
``|F| exp(i(φ_true + noise))`` with von Mises phase noise (``--kappa``, mimicking a
solved map's 20–40° phase error) — and prints, per decision rule, how often the margin
has the protein sign. The truth is used only to build these development maps and to
score the decision; the decision itself reads the map alone.

Usage::

    python benchmarks/shelxd_hand.py --variant const-res@1 var-res@1 --every 4 \
        --out baselines/shelxd/results/hand-dev.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zlib

import numpy as np

import crysbench
from baselines.shelxd.check import phase_error
from baselines.shelxd.hand import hand_scores, invert_map, margin_of
from baselines.shelxd.solver import density_from_phases, solve_example
from crysbench.splits import shipped_split
from crysbench.structures import bundled_entries

RULES = {
    "unit@15": dict(n=15, w=0.0),
    "unit@25 (issue-9 rule)": dict(n=25, w=0.0),
    "unit@40": dict(n=40, w=0.0),
    "tri-only@25": dict(n=25, w=None),
    "tri-only@40": dict(n=40, w=None),
    "unit+tri@25": dict(n=25, w=1.0),
    "unit+tri@40": dict(n=40, w=1.0),
    "unit+2tri@40": dict(n=40, w=2.0),
}


def _margin(scores: dict, n: int, w: float | None) -> float:
    sub = {k: v[:n] for k, v in scores.items()}
    if w is None:
        return float(np.mean(sub["tri_L"] - sub["tri_D"])) if len(sub["tri_L"]) else 0.0
    return margin_of(sub, w)


def _solved_map(ex, trials: int) -> np.ndarray | None:
    """The solver's map without its hand decision, turned to the true hand; None if unsolved."""
    sol = solve_example(ex, trials=trials, seed=0, hand=False)
    pe = phase_error(ex.hkl, ex.F, np.abs(ex.F) * np.exp(1j * sol.phases))
    print(json.dumps({"id": ex.id, "solver_mpe": round(pe["mpe"], 1),
                      "inverted": bool(pe["inverted"])}), flush=True)  # fmt: skip
    if pe["mpe"] >= 60.0:
        return None
    return invert_map(sol.density) if pe["inverted"] else sol.density


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--variant", nargs="+", default=["const-res@1", "var-res@1"])
    p.add_argument("--every", type=int, default=4)
    p.add_argument("--kappa", type=float, default=3.0, help="von Mises concentration of noise")
    p.add_argument("--maps", nargs="+", default=["noisy"], choices=("true", "noisy", "solver"))
    p.add_argument("--offset", type=int, default=0, help="first example of each entry")
    p.add_argument("--trials", type=int, default=32, help="solver trials (--maps solver)")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    entries = bundled_entries()
    rows = []
    for variant in args.variant:
        train = set(shipped_split(variant, "train")[0])
        pids = sorted({i.split("_")[0] for i in train})
        for pid in pids:
            exs = [e for e in crysbench.generate_examples(entries[pid], variant) if e.id in train]
            for ex in exs[args.offset :: args.every]:
                rng = np.random.default_rng(zlib.crc32(ex.id.encode()))
                noise = rng.vonmises(0.0, args.kappa, len(ex.F))
                F = np.asarray(ex.F)
                noisy = density_from_phases(ex.hkl, np.abs(F), np.angle(F) + noise, ex.cell,
                                            tuple(ex.grid_shape))  # fmt: skip
                maps = {"true": ex.density, "noisy": noisy}
                if "solver" in args.maps:
                    maps["solver"] = _solved_map(ex, args.trials)
                for kind in args.maps:
                    rho = maps[kind]
                    if rho is None:  # not solved: its hand means nothing
                        continue
                    t0 = time.perf_counter()
                    sc = hand_scores(rho, ex.cell, n_sites=40)
                    row = {"variant": variant, "id": ex.id, "dmin": ex.dmin, "map": kind,
                           "seconds": round(time.perf_counter() - t0, 2)}  # fmt: skip
                    row.update({r: round(_margin(sc, **k), 4) for r, k in RULES.items()})
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    for variant in args.variant:
        for kind in ("true", "noisy", "solver"):
            r = [x for x in rows if x["variant"] == variant and x["map"] == kind]
            if not r:
                continue
            line = ", ".join(f"{k} {sum(x[k] > 0 for x in r)}/{len(r)}" for k in RULES)
            print(f"{variant} {kind} maps, right hand: {line}", flush=True)
    if args.out:
        with open(args.out, "w") as fh:
            fh.writelines(json.dumps(x) + "\n" for x in rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
