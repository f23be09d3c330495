"""Solving a split of a store and writing predictions in the evaluator's format.

``<out>/<id>.npy``: float32 density map of the example's ``grid_shape``;
``<out>/trials.csv``: one row per example (id, trials, best CFOM, time, solved by own
FOM, engine); ``<out>/trials_detail.csv``: one row per trial.

Finished examples are skipped on a rerun (their ``.npy`` and CSV row exist), so an
interrupted run loses no finished work.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from baselines.shelxd.solver import Solution, solve_example
from crysbench.names import safe_id

__all__ = ["solve_store", "hand_store", "SUMMARY_FIELDS", "write_prediction"]

SUMMARY_FIELDS = [
    "id", "trials", "best_cfom", "cc_all", "cc_weak", "seconds", "solved", "engine",
    "hand_margin", "inverted",
]  # fmt: skip
DETAIL_FIELDS = ["id", "trial", "cc_all", "cc_weak", "cfom", "r_mod", "agree", "seconds"]


def write_prediction(out: Path, sol: Solution) -> None:
    """Write ``<id>.npy`` atomically (temporary file, then rename)."""
    _write_map(out, sol.id, sol.density)


def _write_map(out: Path, example_id: str, rho: np.ndarray) -> None:
    tmp = out / f".{safe_id(example_id)}.npy.tmp"
    with open(tmp, "wb") as fh:
        np.save(fh, np.ascontiguousarray(rho, dtype=np.float32))
    tmp.replace(out / f"{example_id}.npy")


def hand_store(store, split: str, out: str | Path, progress: bool = True) -> list[dict]:
    """The hand decision on saved predictions (``solve --no-hand``), in place.

    For every id of ``split`` with a ``<out>/<id>.npy``, :func:`baselines.shelxd.hand.apply_hand`
    reads the map and the store's cell (nothing else) and rewrites the map in the protein
    hand; ``<out>/hand.csv`` records ``id, hand_margin, inverted`` and ids already listed
    there are skipped, so a rerun changes nothing. The maps are those ``solve`` with the
    decision on would have written.

    Returns
    -------
    list of dict
        The rows written in this call.
    """
    from baselines.shelxd.hand import apply_hand

    out = Path(out)
    log = out / "hand.csv"
    done = _done_ids(log)
    new = not log.exists()
    rows = []
    with open(log, "a", newline="") as fh:
        w = csv.DictWriter(fh, ["id", "hand_margin", "inverted"])
        if new:
            w.writeheader()
        for i in store.ids(split):
            if i in done or not (out / f"{i}.npy").exists():
                continue
            rho, inverted, margin = apply_hand(np.load(out / f"{i}.npy"), store.get(i).cell)
            _write_map(out, i, rho)
            row = {"id": i, "hand_margin": round(margin, 4), "inverted": int(inverted)}
            w.writerow(row)
            fh.flush()
            rows.append(row)
            if progress:
                print(f"{i}: margin {margin:+.4f}{', inverted' if inverted else ''}",
                      file=sys.stderr, flush=True)  # fmt: skip
    return rows


def _done_ids(path: Path) -> set[str]:
    if not path.exists():
        return set()
    with open(path, newline="") as fh:
        return {row["id"] for row in csv.DictReader(fh)}


def _solve_one(ex, kwargs: dict) -> Solution:
    return solve_example(ex, **kwargs)


def solve_store(
    store,
    split: str,
    out: str | Path,
    *,
    jobs: int = 1,
    limit: int | None = None,
    ids: Iterable[str] | None = None,
    progress: bool = True,
    **kwargs,
) -> list[dict]:
    """Solve every example of ``store.ids(split)`` and write predictions to ``out``.

    Parameters
    ----------
    store
        An object with ``ids(split) -> list[str]`` and ``get(id)`` returning an
        Example-like object (``crysbench.store.Store`` or a stand-in).
    split : str
    out : str or Path
        Output folder (created).
    jobs : int
        Examples solved in parallel (joblib, loky); each solve is single-threaded.
    limit : int, optional
        Only the first ``limit`` ids (in store order).
    ids : iterable of str, optional
        Explicit subset of ids (overrides ``split``'s list).
    **kwargs
        Passed to :func:`baselines.shelxd.solver.solve` (``trials``, ``seed``,
        ``engine``, ``block``, ``time_limit``, ...).

    Returns
    -------
    list of dict
        Summary rows of the examples solved in this call.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = out / "trials.csv"
    detail = out / "trials_detail.csv"
    todo = list(ids) if ids is not None else list(store.ids(split))
    if limit is not None:
        todo = todo[:limit]
    done = _done_ids(summary)
    todo = [i for i in todo if i not in done or not (out / f"{i}.npy").exists()]
    new_summary = not summary.exists()
    new_detail = not detail.exists()
    rows: list[dict] = []
    with open(summary, "a", newline="") as fs, open(detail, "a", newline="") as fd:
        ws = csv.DictWriter(fs, SUMMARY_FIELDS)
        wd = csv.DictWriter(fd, DETAIL_FIELDS, extrasaction="ignore")
        if new_summary:
            ws.writeheader()
        if new_detail:
            wd.writeheader()

        def record(sol: Solution) -> None:
            write_prediction(out, sol)
            row = {
                "id": sol.id,
                "trials": len(sol.trials),
                "best_cfom": round(sol.cfom, 2),
                "cc_all": round(sol.cc_all, 2),
                "cc_weak": round(sol.cc_weak, 2),
                "seconds": round(sol.seconds, 2),
                "solved": int(sol.solved),
                "engine": sol.engine,
                "hand_margin": round(sol.hand_margin, 4),
                "inverted": int(sol.inverted),
            }
            ws.writerow(row)
            for t in sol.trials:
                wd.writerow(dict(t, id=sol.id))
            fs.flush()
            fd.flush()
            rows.append(row)
            if progress:
                print(
                    f"{sol.id}: {row['trials']} trials, CFOM {row['best_cfom']:.1f}, "
                    f"{'solved' if sol.solved else 'not solved'} (own FOM), "
                    f"{row['seconds']:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )

        if jobs == 1:
            for i in todo:
                record(_solve_one(store.get(i), kwargs))
        else:
            from joblib import Parallel, delayed

            par = Parallel(n_jobs=jobs, backend="loky", return_as="generator")
            for sol in par(delayed(_solve_one)(store.get(i), kwargs) for i in todo):
                record(sol)
    return rows
