"""Per-example rows of scores and their aggregate: the numbers boards rank (SPEC §6).

:func:`evaluate_example` scores one prediction against one example (metrics from
:mod:`crysbench.metrics`, plus a refinement verdict); :func:`aggregate` turns rows into
the headline numbers, exactly recomputable from the rows (leaderboards re-check it);
:func:`shell_edges` are the shells shared by all examples of a variant.

Examples
--------
>>> from crysbench.rows import aggregate
>>> rows = [{"id": "a", "pearson": 0.5, "phase_error": 30.0, "refined": True},
...         {"id": "b", "pearson": 0.7, "phase_error": 70.0, "refined": False}]
>>> agg = aggregate(rows)
>>> agg["pearson"], agg["phase_error"], agg["refined_fraction"], agg["fraction_below_60"]
(0.6, 50.0, 0.5, 0.5)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "N_SHELLS", "OUTPUT_FORMAT", "STAT_FIELDS", "aggregate", "clean", "evaluate_example",
    "shell_edges",
]  # fmt: skip

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
#: What an evaluator gives, in words (``str.format`` fields: name, n, dmin); see
#: :attr:`crysbench.Evaluator.expected_output_format`.
OUTPUT_FORMAT = """\
==== Expected output format of {name} ====
evaluate(predictions) -> list of rows, one per scored example (dict): id, dmin (Å),
  n_reflections, pearson, amplitude_pearson, phase_error and phase_error_weighted (°),
  shells, shared_shells ({n} shells of equal reciprocal volume to {dmin} Å), refined.
aggregate(rows) -> dict: pearson, amplitude_pearson, phase_error, phase_error_weighted
  (means), fraction_below_60, refined_fraction, n_refine_errors, phase_error_by_shell,
  fraction_below_60_by_shell, n_by_shell, stats, n_examples, missing.
"""


def shell_edges(variant: Any) -> np.ndarray:
    """Fixed shell edges (1/d², Å⁻²) shared by all examples of a variant.

    ``N_SHELLS`` shells of equal reciprocal volume from d = ∞ to the variant's finest dmin
    (``dmin_range[0]``).

    Parameters
    ----------
    variant : str, crysbench.variants.Variant or Store-like
        ``"name@version"`` (or ``"name"``, the latest version), or a store (its
        ``.variant``).

    Returns
    -------
    numpy.ndarray, shape (N_SHELLS + 1,)
        Increasing edges, the first 0.

    Raises
    ------
    KeyError
        Unknown variant (never a fallback resolution).

    Examples
    --------
    >>> e = shell_edges("const-res@1")
    >>> e.shape, float(e[0]), round(float(e[-1]), 4)
    ((13,), 0.0, 0.4444)
    """
    from crysbench.metrics import fixed_shell_edges
    from crysbench.variants import get_variant

    v = get_variant(str(variant.variant) if hasattr(variant, "variant") else variant)
    return fixed_shell_edges(float(v.dmin_range[0]), N_SHELLS)


def clean(x: Any) -> Any:
    """JSON-safe copy: NaN/inf → None, numpy scalars → Python, tuples → lists.

    Parameters
    ----------
    x : object
        Nested dicts, lists, tuples and scalars.

    Returns
    -------
    object
        The same structure, safe for ``json.dumps(..., allow_nan=False)``.

    Examples
    --------
    >>> clean({"a": float("nan"), "b": (np.float32(0.5),)})
    {'a': None, 'b': [0.5]}
    """
    if isinstance(x, dict):
        return {k: clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [clean(v) for v in x]
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
    return clean(row)


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
