"""Checking predictions against a store before scoring, from headers alone (SPEC §6).

Unknown ids, missing ids, wrong shapes or dtypes, unreadable files (named with the true
cause), CCP4 maps whose cell is not the example's, and a wrong store fingerprint are
collected and raised together as one :class:`~crysbench.predictions.EvaluationError`.
Grid shapes and cells come from the store's metadata columns (no example is read); NaN/inf
are checked here for in-memory predictions and, for files, by the worker that reads
each map for scoring (see :func:`crysbench.evaluate`).

Examples
--------
>>> from crysbench.validation import format_ids
>>> format_ids(["a", "b", "c"], limit=2)
'a, b … (+1 more)'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from crysbench.fingerprints import fingerprint_mismatch
from crysbench.predictions import EvaluationError, Predictions, load_predictions

__all__ = ["expected", "format_ids", "validate", "CELL_TOLERANCE"]

#: CCP4 cell vs store cell: relative tolerance on lengths, absolute (degrees) on angles.
CELL_TOLERANCE = (1e-4, 1e-3)


def format_ids(ids: Iterable[str], limit: int = 20) -> str:
    """At most ``limit`` ids, comma-separated, with a count of the rest."""
    ids = list(ids)
    more = f" … (+{len(ids) - limit} more)" if len(ids) > limit else ""
    return ", ".join(ids[:limit]) + more


def expected(store: Any, split: str, ids: list[str]) -> dict[str, tuple[tuple, tuple]]:
    """id → (grid shape, cell parameters) of a split, from metadata when the store has it."""
    meta = getattr(store, "meta", None)
    if meta is not None and hasattr(store, "positions"):
        rows = store.positions(split)
        shapes = np.asarray(meta["grid_shape"])[rows].tolist()
        cells = np.asarray(meta["cell"])[rows].tolist()
        return {k: (tuple(s), tuple(c)) for k, s, c in zip(ids, shapes, cells)}
    out = {}
    for k in ids:
        ex = store.get(k)
        c = ex.cell
        out[k] = (
            tuple(int(n) for n in ex.grid_shape),
            (c.a, c.b, c.c, c.alpha, c.beta, c.gamma),
        )
    return out


def _cell_ok(a: tuple, b: tuple) -> bool:
    rel, deg = CELL_TOLERANCE
    lengths = all(abs(x - y) <= rel * max(abs(y), 1.0) for x, y in zip(a[:3], b[:3]))
    return lengths and all(abs(x - y) <= deg for x, y in zip(a[3:], b[3:]))


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
        Listing unknown ids, missing ids, wrong shapes, non-finite values (in-memory
        predictions), unreadable files with their causes, CCP4 cells that differ from the
        store's, and a fingerprint mismatch, each with the ids concerned.
    """
    preds = preds if isinstance(preds, Predictions) else load_predictions(preds)
    problems: dict[str, list[str]] = {}
    lines: list[str] = []
    meta = getattr(preds, "meta", {}) or {}
    fp = meta.get("store_fingerprint", meta.get("fingerprint"))
    problem = fingerprint_mismatch(
        fp, getattr(store, "fingerprint", None), str(getattr(store, "variant", "")) or None,
        "the predictions", "the store", hint="predictions made for another store",
    )  # fmt: skip
    if problem is not None:
        problems["fingerprint"] = [str(fp)]
        lines.append(problem)
    want = list(store.ids(split))
    want_set = set(want)
    unknown = sorted(k for k in preds if k not in want_set)
    missing = [k for k in want if k not in preds]
    if unknown:
        problems["unknown"] = unknown
        lines.append(f"{len(unknown)} unknown ids (not in split {split!r}): {format_ids(unknown)}")
    if missing and not allow_missing:
        problems["missing"] = missing
        lines.append(
            f"{len(missing)} missing ids (use --allow-missing to score the rest): "
            f"{format_ids(missing)}"
        )
    have = [k for k in want if k in preds]
    exp = expected(store, split, want) if have else {}
    bad: dict[str, list[str]] = {"shape": [], "nonfinite": [], "unreadable": [], "cell": []}
    for key in have:
        try:
            head = preds.header(key)
        except EvaluationError as exc:
            bad["unreadable"].append(str(exc).removeprefix("prediction "))
            continue
        shape, cell = exp[key]
        if tuple(head["shape"]) != tuple(shape):
            bad["shape"].append(f"{key} {tuple(head['shape'])} != {tuple(shape)}")
            continue
        dtype = np.dtype(head["dtype"])
        if not np.issubdtype(dtype, np.number) or np.issubdtype(dtype, np.complexfloating):
            bad["shape"].append(f"{key} dtype {dtype} (real numbers expected)")
            continue
        if head.get("cell") is not None and not _cell_ok(head["cell"], cell):
            got = ", ".join(f"{x:g}" for x in head["cell"])
            bad["cell"].append(f"{key} cell ({got}) != store ({', '.join(f'{x:g}' for x in cell)})")
            continue
        if preds.kind == "mapping" and not np.isfinite(np.asarray(preds[key])).all():
            bad["nonfinite"].append(key)
    if bad["unreadable"]:
        problems["unreadable"] = bad["unreadable"]
        lines.append(
            f"{len(bad['unreadable'])} unreadable predictions: "
            + format_ids(bad["unreadable"], 5).replace(", ", "; ")
        )
    if bad["shape"]:
        problems["shape"] = bad["shape"]
        lines.append(f"{len(bad['shape'])} wrong shapes: {format_ids(bad['shape'])}")
    if bad["cell"]:
        problems["cell"] = bad["cell"]
        lines.append(f"{len(bad['cell'])} CCP4 maps with another cell: {format_ids(bad['cell'])}")
    if bad["nonfinite"]:
        problems["nonfinite"] = bad["nonfinite"]
        lines.append(
            f"{len(bad['nonfinite'])} predictions with NaN/inf: {format_ids(bad['nonfinite'])}"
        )
    if lines:
        raise EvaluationError("invalid predictions:\n  " + "\n  ".join(lines), problems)
    return have, (missing if allow_missing else [])
