"""Scoring predicted density maps against a store: ``crysbench evaluate`` (SPEC §6).

Inputs are predictions keyed by example id — a folder of ``<id>.npy`` or CCP4 maps
(``<id>.ccp4`` / ``<id>.map``), one container written by :func:`write_predictions` (zarr
group or ``.npz``), or an in-memory mapping (:mod:`crysbench.predictions`) — and a store
(anything with ``.ids(split)``, ``.get(id)``, ``.fingerprint``, ``.variant``). An optional
``meta.json`` (folder) or container attributes may carry ``store_fingerprint``; when
present it must match the store.

Validation happens before any scoring, from file headers and store metadata
(:mod:`crysbench.validation`): unknown ids, missing ids (allowed, and still reported, with
``allow_missing``), wrong shapes, unreadable files, CCP4 cells and a wrong fingerprint are
collected and raised together as one :class:`EvaluationError` naming the ids. Scoring
streams chunks of examples through worker processes or a dask cluster
(:mod:`crysbench.scoring`), appending rows to a journal so an interrupted run resumes
(:mod:`crysbench.journal`).

Results (``schema_version`` 1) are a JSON-able dict; see :func:`evaluate` and
:func:`aggregate` (the aggregate is exactly recomputable from the per-example rows).

Examples
--------
>>> from crysbench.evaluate import aggregate
>>> rows = [{"id": "a", "pearson": 0.5, "phase_error": 30.0, "refined": True},
...         {"id": "b", "pearson": 0.7, "phase_error": 70.0, "refined": False}]
>>> agg = aggregate(rows)
>>> agg["pearson"], agg["phase_error"], agg["refined_fraction"], agg["fraction_below_60"]
(0.6, 50.0, 0.5, 0.5)
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from crysbench.predictions import EvaluationError, Predictions, load_predictions, write_predictions
from crysbench.validation import format_ids, validate

__all__ = [
    "SCHEMA_VERSION",
    "EvaluationError",
    "Predictions",
    "load_predictions",
    "validate",
    "shared_shell_edges",
    "evaluate_example",
    "evaluate",
    "aggregate",
    "write_results",
    "format_table",
    "add_arguments",
    "run_cli",
    "write_predictions",
]

SCHEMA_VERSION = 1
N_SHELLS = 12
#: Row fields summarised by mean/median/std in the aggregate.
STAT_FIELDS = (
    "pearson",
    "amplitude_pearson",
    "phase_error",
    "phase_error_weighted",
    "phase_error_unaligned",
    "final_phase_error",
    "final_phase_error_weighted",
)


# --------------------------------------------------------------------------- scoring
def shared_shell_edges(store: Any, examples_dmin: Iterable[float] = ()) -> np.ndarray:
    """Fixed shell edges (1/d², Å⁻²) shared by all examples of a store.

    ``N_SHELLS`` shells of equal reciprocal volume from d = ∞ to the variant's finest dmin
    (``get_variant(store.variant).dmin_range[0]``), or to the finest dmin among the examples
    when the variant is unknown.
    """
    from crysbench.metrics import fixed_shell_edges

    dmin = None
    try:
        from crysbench.variants import get_variant

        dmin = float(get_variant(str(store.variant)).dmin_range[0])
    except Exception:
        dmin = None
    if dmin is None:
        vals = list(examples_dmin)
        dmin = min(vals) if vals else 1.5
    return fixed_shell_edges(dmin, N_SHELLS)


def _clean(x: Any) -> Any:
    """JSON-safe: NaN/inf → None, numpy scalars → Python."""
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def evaluate_example(
    pred_map: np.ndarray,
    example: Any,
    shared_edges: np.ndarray,
    engine: Any = None,
    origin_search: bool = False,
    hand_search: bool = False,
) -> dict:
    """One row of results: metrics of one prediction, plus refinement by ``engine``.

    With an origin and/or hand search the headline ``phase_error``, ``phase_error_weighted``,
    ``shells`` and ``shared_shells`` are after alignment, and the ``*_unaligned`` keys keep
    the values before it.
    """
    from crysbench.metrics import example_metrics

    pred = np.asarray(pred_map, dtype=np.float32)
    m = example_metrics(
        pred, example.density, example.F, example.hkl, example.cell,
        shared_edges=shared_edges, n_shells=N_SHELLS,
        origin_search=origin_search, hand_search=hand_search,
    )  # fmt: skip
    Fp = m.pop("F_pred")

    def compact(shells: list[dict]) -> list[dict]:
        return [
            {"n": s["n"], "phase_error": s["phase_error"],
             "phase_error_weighted": s["phase_error_weighted"]}
            for s in shells
        ]  # fmt: skip

    row: dict[str, Any] = {
        "id": example.id,
        "dmin": float(example.dmin),
        "n_reflections": int(len(example.hkl)),
        "pearson": m["pearson"],
        "amplitude_pearson": m["amplitude_pearson"],
    }
    if origin_search or hand_search:
        row["phase_error"] = m["phase_error_aligned"]
        row["phase_error_weighted"] = m["phase_error_weighted_aligned"]
        row["phase_error_unaligned"] = m["phase_error"]
        row["phase_error_weighted_unaligned"] = m["phase_error_weighted"]
        row["origin_shift"] = m["origin_shift"]
        row["inverted"] = m["inverted"]
        row["shells"] = m["shells_aligned"]
        row["shells_unaligned"] = m["shells"]
        row["shared_shells"] = compact(m["shared_shells_aligned"])
        row["shared_shells_unaligned"] = compact(m["shared_shells"])
    else:
        row["phase_error"] = m["phase_error"]
        row["phase_error_weighted"] = m["phase_error_weighted"]
        row["shells"] = m["shells"]
        row["shared_shells"] = compact(m["shared_shells"])
    if engine is not None:
        row.update(engine.refine(example, Fp))
    else:
        row["refined"] = None
    return _clean(row)


def _stats(values: list[float]) -> dict:
    v = np.asarray([x for x in values if x is not None], dtype=np.float64)
    if v.size == 0:
        return {"mean": None, "median": None, "std": None, "n": 0}
    return {
        "mean": float(v.mean()),
        "median": float(np.median(v)),
        "std": float(v.std()),
        "n": int(v.size),
    }


def aggregate(rows: list[dict], missing: list[str] | None = None) -> dict:
    """Aggregate per-example rows; the formula leaderboards use to re-check results.

    Definitions (over the rows given; ``None`` values are skipped):

    - ``pearson``, ``amplitude_pearson``, ``phase_error``, ``phase_error_weighted``:
      arithmetic mean of the rows' values; ``stats[field]`` = mean, median, population std
      (ddof=0) and n for every field in ``STAT_FIELDS`` present in the rows.
    - ``fraction_below_60``: fraction of rows with ``phase_error < 60``.
    - ``refined_fraction``: (# rows with ``refined`` True) / (# rows with ``refined`` not
      None); None when no row has a refinement verdict (engine ``none``);
      ``n_refine_errors`` counts rows whose engine could not run (``refined`` None) when
      others could.
    - ``phase_error_by_shell[i]``: mean over rows of ``shared_shells[i]["phase_error"]``
      (rows with no reflection in shell i skipped); ``fraction_below_60_by_shell[i]``:
      fraction of those rows whose shell value is < 60; ``n_by_shell[i]``: that row count.
    - ``n_examples``: number of rows; ``missing``: ids given as missing.
    """
    out: dict[str, Any] = {}
    stats = {}
    for field in STAT_FIELDS:
        if any(field in r for r in rows):
            stats[field] = _stats([r.get(field) for r in rows])
    for field in ("pearson", "amplitude_pearson", "phase_error", "phase_error_weighted"):
        out[field] = stats[field]["mean"] if field in stats else None
    pe = [r.get("phase_error") for r in rows if r.get("phase_error") is not None]
    out["fraction_below_60"] = float(np.mean([p < 60 for p in pe])) if pe else None
    verdicts = [r.get("refined") for r in rows]
    known = [v for v in verdicts if v is not None]
    out["refined_fraction"] = float(np.mean(known)) if known else None
    out["n_refine_errors"] = int(len(verdicts) - len(known)) if known else 0
    n_sh = max((len(r.get("shared_shells") or []) for r in rows), default=0)
    by_shell, below, counts = [], [], []
    for i in range(n_sh):
        vals = []
        for r in rows:
            sh = r.get("shared_shells") or []
            if i < len(sh) and sh[i].get("phase_error") is not None:
                vals.append(sh[i]["phase_error"])
        counts.append(len(vals))
        by_shell.append(float(np.mean(vals)) if vals else None)
        below.append(float(np.mean([v < 60 for v in vals])) if vals else None)
    out["phase_error_by_shell"] = by_shell
    out["fraction_below_60_by_shell"] = below
    out["n_by_shell"] = counts
    out["stats"] = stats
    out["n_examples"] = len(rows)
    out["missing"] = list(missing or [])
    return out


def _chunk_size(engine: Any, n_jobs: int, n: int) -> int:
    if engine is not None:
        return 1  # refinement: seconds per example, journal every row
    return max(1, min(32, -(-n // max(1, 4 * n_jobs))))


def _run_header(preds: Predictions, store: Any, split: str, eng: Any, settings: dict) -> dict:
    """What identifies one evaluation, for its journal."""
    from crysbench._version import __version__

    return {
        "crysbench_version": __version__,
        "variant": str(getattr(store, "variant", "")),
        "store_fingerprint": getattr(store, "fingerprint", None),
        "split": split,
        "predictions": preds.source if preds.kind == "mapping" else os.path.abspath(preds.source),
        "engine": eng.name,
        "settings": settings,
    }


def evaluate(
    predictions: str | Path | Mapping[str, Any],
    store: Any,
    split: str = "test",
    engine: str | Any = "builtin",
    allow_missing: bool = False,
    origin_search: bool = False,
    hand_search: bool = False,
    n_jobs: int = 1,
    progress: bool = True,
    engine_settings: dict | None = None,
    journal: str | Path | None = None,
    backend: str = "loky",
    scheduler: Any = None,
) -> dict:
    """Score predictions against a store split.

    Parameters
    ----------
    predictions : path or mapping
        See :func:`crysbench.predictions.load_predictions` (folder, zarr group, ``.npz``).
    store : Store-like
        ``.ids(split)``, ``.get(id)`` (Example-like), ``.fingerprint``, ``.variant``; a
        crysbench :class:`~crysbench.store.Store` is read column-wise and in chunks.
    split : str
    engine : str or engine object
        ``"builtin"``, ``"shelxe"``, ``"none"`` (see :mod:`crysbench.refine`).
    allow_missing : bool
        Score the predictions given; list the missing ids in the results.
    origin_search, hand_search : bool
        Align each prediction's origin / hand to the truth before the phase errors (the
        values before alignment are kept as ``*_unaligned``).
    n_jobs : int
        Worker processes (loky), or the size of a local dask cluster.
    progress : bool
        Progress bar with rate and ETA on stderr.
    journal : path, optional
        Append every finished row to this JSON-lines file and skip the rows already
        in it (same run only): an interrupted evaluation resumes where it stopped and
        ends with the same results (all but ``elapsed_s``).
    backend : {"loky", "dask"}
        Where the workers run (see :mod:`crysbench.scoring`).
    scheduler : str or distributed.Client, optional
        Dask scheduler address (``tcp://host:8786``) or client, with ``backend="dask"``.

    Returns
    -------
    dict
        Results, ``schema_version`` 1: ``crysbench_version``, ``variant``,
        ``store_fingerprint``, ``split``, ``engine``, ``settings``, ``shell_edges``
        (1/d², Å⁻²), ``shell_d`` (Å), ``aggregate`` (:func:`aggregate`), ``examples`` (rows).

    Raises
    ------
    EvaluationError
        Invalid predictions (see :func:`crysbench.validation.validate`); maps found to
        hold NaN/inf while scoring are listed together once the others are scored.
    """
    from crysbench._version import __version__
    from crysbench.journal import RowJournal
    from crysbench.refine import get_engine
    from crysbench.scoring import ChunkTask, chunked, score_chunks

    t0 = time.perf_counter()
    preds = load_predictions(predictions)
    ids, missing = validate(preds, store, split, allow_missing)
    eng = get_engine(engine, **(engine_settings or {})) if isinstance(engine, str) else engine
    edges = shared_shell_edges(store)
    refine_engine = None if eng.name == "none" else eng
    settings = {
        "engine": dict(getattr(eng, "settings", {}) or {}),
        "origin_search": bool(origin_search),
        "hand_search": bool(hand_search),
        "n_shells": N_SHELLS,
        "phase_error_weights": "|F_true|",
        "allow_missing": bool(allow_missing),
    }
    log = RowJournal(journal, _run_header(preds, store, split, eng, settings)) if journal else None
    stamps = {k: preds.stamp(k) for k in ids} if log else {}
    done: dict[str, dict] = {}
    if log:
        done = {k: log.done[k][1] for k in ids if k in log.done and log.done[k][0] == stamps[k]}
    todo = [k for k in ids if k not in done]
    fast = hasattr(store, "read_reflections") and hasattr(store, "meta")
    rows_of = None
    if fast and todo:
        pos = {k: int(r) for k, r in zip(store.ids(split), store.positions(split).tolist())}
        rows_of = [pos[k] for k in todo]
    if fast and str(store.path).startswith("memory://") and backend != "dask":
        n_jobs = 1  # an in-memory store exists in this process only
    ref = store.path if fast and (n_jobs > 1 or backend == "dask") else store
    size = _chunk_size(refine_engine, n_jobs, len(todo))
    tasks = [
        ChunkTask(
            ref, keys, rows, preds.subset(keys), edges, refine_engine, origin_search, hand_search
        )  # fmt: skip
        for keys, rows in chunked(todo, rows_of, size)
    ]
    bar = _bar(len(ids), len(done), progress)
    problems: dict[str, list[str]] = {"nonfinite": [], "unreadable": []}
    try:
        for result in score_chunks(tasks, backend, n_jobs, scheduler):
            good = [(k, row) for k, row, _, _ in result if row is not None]
            for _k, _, kind, text in result:
                if kind is not None:
                    problems[kind].append(text)
            if log:
                log.append((k, stamps[k], row) for k, row in good)
            done.update(good)
            if bar is not None:
                bar.update(len(result))
    finally:
        if bar is not None:
            bar.close()
        if log:
            log.close()
    if problems["nonfinite"] or problems["unreadable"]:
        lines = []
        if problems["unreadable"]:
            lines.append(f"{len(problems['unreadable'])} unreadable predictions: "
                         + "; ".join(problems["unreadable"][:5]))  # fmt: skip
        if problems["nonfinite"]:
            lines.append(f"{len(problems['nonfinite'])} predictions with NaN/inf: "
                         f"{format_ids(sorted(problems['nonfinite']))}")  # fmt: skip
        kept = " (the other rows are kept: rerun to score the fixed ones)" if log else ""
        raise EvaluationError(
            "invalid predictions:\n  " + "\n  ".join(lines) + kept,
            {k: v for k, v in problems.items() if v},
        )
    rows = [done[k] for k in ids]
    if log:  # every row as the journal holds it: a resumed run ends byte-identical
        rows = [log.done[k][1] for k in ids]
    results = {
        "schema_version": SCHEMA_VERSION,
        "crysbench_version": __version__,
        "variant": str(getattr(store, "variant", "")),
        "store_fingerprint": getattr(store, "fingerprint", None),
        "split": split,
        "predictions": preds.source,
        "engine": eng.name,
        "settings": settings,
        "shell_edges": [float(e) for e in edges],
        "shell_d": [(1 / math.sqrt(e)) if e > 0 else None for e in edges],
        "aggregate": aggregate(rows, missing),
        "examples": [],
        "elapsed_s": time.perf_counter() - t0,
    }
    results = _clean(results)
    results["examples"] = rows  # rows are clean already (evaluate_example, or the journal)
    return results


def _bar(total: int, initial: int, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        return None
    return tqdm(total=total, initial=initial, desc="evaluate", unit="ex", file=sys.stderr)


def write_results(results: dict, path: str | Path) -> Path:
    """Write results as JSON (strict: no NaN), creating parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_clean(results), indent=1, allow_nan=False) + "\n")
    return path


# the CLI lives in crysbench.evaluate_cli; these names stay importable from here
from crysbench.evaluate_cli import add_arguments, format_table, run_cli  # noqa: E402
