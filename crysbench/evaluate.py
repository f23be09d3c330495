"""Scoring predicted density maps against a store: ``crysbench evaluate`` (SPEC §6).

Inputs are predictions keyed by example id — a folder of ``<id>.npy`` or CCP4 maps
(``<id>.ccp4`` / ``<id>.map``), a zarr group with one array per id, or an in-memory mapping —
and a store (anything with ``.ids(split)``, ``.get(id)``, ``.fingerprint``, ``.variant``).
An optional ``meta.json`` (folder) or group attributes (zarr) may carry
``store_fingerprint``; when present it must match the store.

Validation happens before any scoring: unknown ids, missing ids (allowed, and still reported,
with ``allow_missing``), wrong shapes, NaN/inf values and a wrong fingerprint are collected and
raised together as one :class:`EvaluationError` naming the ids.

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

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

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


class EvaluationError(ValueError):
    """Invalid predictions; the message lists every problem with the ids concerned."""

    def __init__(self, message: str, problems: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.problems = problems or {}


# --------------------------------------------------------------------------- predictions
class Predictions(Mapping):
    """Predicted maps keyed by example id, loaded lazily.

    Attributes
    ----------
    source : str
        Where they come from (path or ``"<mapping>"``).
    meta : dict
        Contents of ``meta.json`` / zarr attributes (may be empty).
    """

    def __init__(self, loaders: dict[str, Callable[[], np.ndarray]], meta: dict, source: str):
        self._loaders = loaders
        self.meta = dict(meta)
        self.source = source

    def __getitem__(self, key: str) -> np.ndarray:
        return self._loaders[key]()

    def __iter__(self):
        return iter(self._loaders)

    def __len__(self) -> int:
        return len(self._loaders)


def _read_ccp4(path: Path) -> np.ndarray:
    import gemmi

    m = gemmi.read_ccp4_map(str(path))
    m.setup(float("nan"))
    return np.asarray(m.grid.array, dtype=np.float32)


def _suffix_id(name: str) -> tuple[str, str] | None:
    for suf in (".npy", ".ccp4", ".map"):
        if name.endswith(suf):
            return name[: -len(suf)], suf
    return None


def load_predictions(path_or_mapping: str | Path | Mapping[str, Any]) -> Predictions:
    """Predictions from a folder (``<id>.npy``, ``<id>.ccp4``, ``<id>.map``), a zarr group
    (one array per id) or a mapping id → array.

    Raises
    ------
    EvaluationError
        Path missing, unreadable, no predictions, or one id given twice in different formats.
    """
    if isinstance(path_or_mapping, Mapping):
        items = dict(path_or_mapping)
        meta = dict(getattr(path_or_mapping, "meta", {}) or {})
        return Predictions(
            {k: (lambda v=v: np.asarray(v)) for k, v in items.items()}, meta, "<mapping>"
        )
    path = Path(path_or_mapping)
    if not path.exists():
        raise EvaluationError(f"predictions not found: {path}")
    is_zarr = path.is_dir() and (path / "zarr.json").exists() or path.suffix == ".zarr"
    if is_zarr:
        return _load_zarr(path)
    if not path.is_dir():
        raise EvaluationError(f"predictions must be a folder or a zarr group: {path}")
    meta: dict = {}
    meta_path = path / "meta.json"
    if meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError) as exc:
            raise EvaluationError(f"cannot read {meta_path}: {exc}") from None
        if not isinstance(meta, dict):
            raise EvaluationError(f"{meta_path} must hold a JSON object")
    loaders: dict[str, Callable[[], np.ndarray]] = {}
    dup: list[str] = []
    for f in sorted(path.iterdir()):
        parsed = _suffix_id(f.name)
        if parsed is None or not f.is_file():
            continue
        key, suf = parsed
        if key in loaders:
            dup.append(key)
            continue
        if suf == ".npy":
            loaders[key] = lambda f=f: np.load(f, mmap_mode="r", allow_pickle=False)
        else:
            loaders[key] = lambda f=f: _read_ccp4(f)
    if dup:
        raise EvaluationError(
            f"ids given more than once (several formats): {', '.join(sorted(set(dup)))}",
            {"duplicate": sorted(set(dup))},
        )
    if not loaders:
        raise EvaluationError(f"no predictions (<id>.npy, .ccp4, .map) in {path}")
    return Predictions(loaders, meta, str(path))


def _load_zarr(path: Path) -> Predictions:
    import zarr

    try:
        group = zarr.open_group(str(path), mode="r")
    except Exception as exc:  # zarr raises several types
        raise EvaluationError(f"cannot open zarr group {path}: {exc}") from None
    meta = dict(group.attrs)
    loaders = {name: (lambda a=arr: np.asarray(a[...])) for name, arr in group.arrays()}
    if not loaders:
        raise EvaluationError(f"no arrays in zarr group {path}")
    return Predictions(loaders, meta, str(path))


def _load_one(preds: Mapping, key: str) -> np.ndarray:
    try:
        return np.asarray(preds[key])
    except Exception as exc:
        raise EvaluationError(
            f"cannot read prediction {key}: {exc}", {"unreadable": [key]}
        ) from None


# --------------------------------------------------------------------------- validation
def _fmt_ids(ids: Iterable[str], limit: int = 20) -> str:
    ids = list(ids)
    more = f" … (+{len(ids) - limit} more)" if len(ids) > limit else ""
    return ", ".join(ids[:limit]) + more


def validate(
    preds: Mapping[str, Any],
    store: Any,
    split: str = "test",
    allow_missing: bool = False,
) -> tuple[list[str], list[str]]:
    """Check predictions against the store before scoring.

    Returns
    -------
    ids : list of str
        Ids to score, in store order.
    missing : list of str
        Store ids without a prediction (only when ``allow_missing``).

    Raises
    ------
    EvaluationError
        Listing unknown ids, missing ids, wrong shapes, non-finite values, unreadable files
        and a fingerprint mismatch, each with the ids concerned.
    """
    problems: dict[str, list[str]] = {}
    lines: list[str] = []
    meta = getattr(preds, "meta", {}) or {}
    fp = meta.get("store_fingerprint", meta.get("fingerprint"))
    store_fp = getattr(store, "fingerprint", None)
    if fp is not None and store_fp is not None and str(fp) != str(store_fp):
        problems["fingerprint"] = [str(fp)]
        lines.append(f"store fingerprint mismatch: predictions made for {fp}, store is {store_fp}")
    want = list(store.ids(split))
    want_set = set(want)
    have = list(preds.keys())
    unknown = sorted(k for k in have if k not in want_set)
    missing = [k for k in want if k not in preds]
    if unknown:
        problems["unknown"] = unknown
        lines.append(f"{len(unknown)} unknown ids (not in split {split!r}): {_fmt_ids(unknown)}")
    if missing and not allow_missing:
        problems["missing"] = missing
        lines.append(
            f"{len(missing)} missing ids (use --allow-missing to score the rest): "
            f"{_fmt_ids(missing)}"
        )
    shape_bad: list[str] = []
    nonfinite: list[str] = []
    unreadable: list[str] = []
    for key in want:
        if key not in preds:
            continue
        try:
            arr = np.asarray(preds[key])
        except Exception:
            unreadable.append(key)
            continue
        expected = tuple(int(n) for n in store.get(key).grid_shape)
        if arr.shape != expected:
            shape_bad.append(f"{key} {tuple(arr.shape)} != {expected}")
            continue
        if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
            shape_bad.append(f"{key} dtype {arr.dtype} (real numbers expected)")
            continue
        if not np.isfinite(arr).all():
            nonfinite.append(key)
    if unreadable:
        problems["unreadable"] = unreadable
        lines.append(f"{len(unreadable)} unreadable predictions: {_fmt_ids(unreadable)}")
    if shape_bad:
        problems["shape"] = shape_bad
        lines.append(f"{len(shape_bad)} wrong shapes: {_fmt_ids(shape_bad)}")
    if nonfinite:
        problems["nonfinite"] = nonfinite
        lines.append(f"{len(nonfinite)} predictions with NaN/inf: {_fmt_ids(nonfinite)}")
    if lines:
        raise EvaluationError("invalid predictions:\n  " + "\n  ".join(lines), problems)
    return [k for k in want if k in preds], (missing if allow_missing else [])


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


def _progress(it: Iterable, total: int, enabled: bool):
    if not enabled:
        yield from it
        return
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        yield from it
        return
    yield from tqdm(it, total=total, desc="evaluate", unit="ex", file=sys.stderr)


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
) -> dict:
    """Score predictions against a store split.

    Parameters
    ----------
    predictions : path or mapping
        See :func:`load_predictions`.
    store : Store-like
        ``.ids(split)``, ``.get(id)`` (Example-like), ``.fingerprint``, ``.variant``.
    split : str
    engine : str or engine object
        ``"builtin"``, ``"shelxe"``, ``"none"`` (see :mod:`crysbench.refine`).
    allow_missing : bool
        Score the predictions given; list the missing ids in the results.
    origin_search, hand_search : bool
        Align each prediction's origin / hand to the truth before the phase errors (the
        values before alignment are kept as ``*_unaligned``).
    n_jobs : int
        Worker processes (joblib); 1 runs in this process.
    progress : bool
        Progress bar on stderr.

    Returns
    -------
    dict
        Results, ``schema_version`` 1: ``crysbench_version``, ``variant``,
        ``store_fingerprint``, ``split``, ``engine``, ``settings``, ``shell_edges``
        (1/d², Å⁻²), ``shell_d`` (Å), ``aggregate`` (:func:`aggregate`), ``examples`` (rows).

    Raises
    ------
    EvaluationError
        Invalid predictions (see :func:`validate`).
    """
    from crysbench._version import __version__
    from crysbench.refine import get_engine

    t0 = time.perf_counter()
    preds = predictions if isinstance(predictions, Predictions) else load_predictions(predictions)
    ids, missing = validate(preds, store, split, allow_missing)
    eng = get_engine(engine, **(engine_settings or {})) if isinstance(engine, str) else engine
    edges = shared_shell_edges(store)
    refine_engine = None if eng.name == "none" else eng

    def job(key: str) -> dict:
        return evaluate_example(
            preds[key], store.get(key), edges, refine_engine, origin_search, hand_search
        )

    if n_jobs == 1 or len(ids) <= 1:
        rows = [job(k) for k in _progress(ids, len(ids), progress)]
    else:
        from joblib import Parallel, delayed

        tasks = (
            delayed(evaluate_example)(
                np.asarray(preds[k]),
                store.get(k),
                edges,
                refine_engine,
                origin_search,
                hand_search,
            )  # fmt: skip
            for k in ids
        )
        rows = list(
            _progress(Parallel(n_jobs=n_jobs, return_as="generator")(tasks), len(ids), progress)
        )
    results = {
        "schema_version": SCHEMA_VERSION,
        "crysbench_version": __version__,
        "variant": str(getattr(store, "variant", "")),
        "store_fingerprint": getattr(store, "fingerprint", None),
        "split": split,
        "predictions": getattr(preds, "source", None),
        "engine": eng.name,
        "settings": {
            "engine": dict(getattr(eng, "settings", {}) or {}),
            "origin_search": bool(origin_search),
            "hand_search": bool(hand_search),
            "n_shells": N_SHELLS,
            "phase_error_weights": "|F_true|",
            "allow_missing": bool(allow_missing),
        },
        "shell_edges": [float(e) for e in edges],
        "shell_d": [(1 / math.sqrt(e)) if e > 0 else None for e in edges],
        "aggregate": aggregate(rows, missing),
        "examples": rows,
        "elapsed_s": time.perf_counter() - t0,
    }
    return _clean(results)


def write_results(results: dict, path: str | Path) -> Path:
    """Write results as JSON (strict: no NaN), creating parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_clean(results), indent=1, allow_nan=False) + "\n")
    return path


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
    parser.add_argument("predictions", help="folder of <id>.npy / <id>.ccp4 / <id>.map, or zarr")
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
    parser.add_argument("--out", help="results.json path (plots are written next to it)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar or table")


def run_cli(args: argparse.Namespace) -> int:
    """Run ``crysbench evaluate``; returns the exit code (errors go to stderr, no traceback).

    Exit codes: 0 success, 1 invalid predictions or evaluation failure, 2 store/usage error.
    """
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
        )  # fmt: skip
    except EvaluationError as exc:
        print(f"crysbench evaluate: {exc}", file=sys.stderr)
        return 1
    except (ValueError, OSError, KeyError) as exc:
        print(f"crysbench evaluate: error: {exc}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(format_table(results))
    if args.out:
        out = write_results(results, args.out)
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
    if results["aggregate"]["missing"]:
        print(
            f"crysbench evaluate: {len(results['aggregate']['missing'])} missing ids: "
            f"{_fmt_ids(results['aggregate']['missing'])}",
            file=sys.stderr,
        )
    return 0
