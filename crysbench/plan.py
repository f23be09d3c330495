"""The build's plan: the coordinator's compact per-example columns, their store order,
splits and buckets.

Entry tasks hand in their rows as arrays (:func:`compact`, run in the worker);
:class:`PlanColumns` gathers them at 26 bytes an example and :func:`plan_store` sorts
them into store order (split, grid shape, PDB id, entity, start). :class:`EntryResults`
keeps the rest of each entry's summary (part file, rejections, running totals).
"""

from __future__ import annotations

import collections

import numpy as np

from crysbench.splits import SPLIT_CODES, assign_split
from crysbench.variants import Variant

__all__ = ["compact", "PlanColumns", "EntryResults", "plan_store"]


#: Per-example columns the coordinator keeps: 26 bytes an example (plus 5 for the split
#: and bucket codes of the plan). Everything else of an example stays in its part file
#: until a block task reads it; the normalisation statistics are kept per entry.
_PLAN_DTYPES = {
    "n_refl": np.int32,
    "n_atom": np.int32,
    "offset": np.int64,
    "length": np.int32,
    "crc32": np.uint32,
    "grid_shape": np.int16,
}
#: Per-entry statistics (the training split's maxima give the normalisation).
_STAT_FIELDS = {"density_max": np.float32, "density_min": np.float32, "patterson_max": np.float64}


def compact(cols: dict) -> tuple[dict, dict]:
    """An entry's per-example columns (from its part header) in store order, and its stats.

    Within an entry the store orders examples by (entity, start); the rows are put in
    that order here (a stable sort, so ties keep the part's record order), which lets
    the coordinator sort all examples on (split, grid shape, entry) alone.

    Returns
    -------
    columns : dict
        :data:`_PLAN_DTYPES` arrays, one row per example.
    stats : dict
        The entry's ``density_max`` / ``density_min`` / ``patterson_max`` extremes
        (``nan`` when it has no example), in the dtypes the per-example values had.
    """
    m = len(cols.get("offset", []))
    order = np.lexsort(
        (np.asarray(cols.get("start", []), np.int64), np.asarray(cols.get("entity", []), np.int64))
    )
    out = {k: np.asarray(cols.get(k, []), dtype=dt) for k, dt in _PLAN_DTYPES.items()}
    out["grid_shape"] = out["grid_shape"].reshape(m, 3)
    out = {k: a[order] for k, a in out.items()}
    stats = {}
    for k, dt in _STAT_FIELDS.items():
        vals = np.asarray(cols.get(k, []), dtype=dt)
        if not m:
            stats[k] = float("nan")
        else:
            stats[k] = float(vals.min() if k.endswith("_min") else vals.max())
    return out, stats


class PlanColumns:
    """The coordinator's per-example columns, gathered as entries finish (compactly:
    small per-entry arrays are merged every ``merge`` entries, so the memory is the
    26 bytes an example of :data:`_PLAN_DTYPES`, not Python objects per entry).

    Examples
    --------
    >>> cols = PlanColumns()
    >>> cols.add(0, *compact({"offset": [16, 40], "length": [24, 24], "crc32": [1, 2],
    ...     "n_refl": [5, 6], "n_atom": [3, 3], "grid_shape": [[8, 8, 8], [8, 8, 8]],
    ...     "entity": [1, 1], "start": [7, 2], "density_max": [1.0, 2.0],
    ...     "density_min": [-1.0, -3.0], "patterson_max": [9.0, 4.0]}))
    >>> a = cols.arrays()
    >>> a["offset"].tolist(), a["entry"].tolist()  # (entity, start) order within the entry
    ([40, 16], [0, 0])
    >>> cols.stats(1)["density_min"].tolist()
    [-3.0]
    """

    def __init__(self, merge: int = 256):
        self.merge = merge
        self._parts: list[dict] = []
        self._pending: list[dict] = []
        self._stats: dict[int, dict] = {}

    def add(self, entry: int, rows: dict, stats: dict) -> None:
        """Add entry ``entry``'s rows and stats (:func:`compact` of its part header, made
        by the entry task, so the coordinator decodes no per-example Python objects)."""
        self._stats[entry] = tuple(stats[k] for k in _STAT_FIELDS)
        m = len(rows["offset"])
        if m:
            self._pending.append({**rows, "entry": np.full(m, entry, dtype=np.int32)})
        if len(self._pending) >= self.merge:
            self._consolidate()

    def stats(self, n_entries: int) -> dict[str, np.ndarray]:
        """Per-entry statistics as arrays indexed by entry (``nan`` where none)."""
        out = {k: np.full(n_entries, np.nan, dtype=np.float64) for k in _STAT_FIELDS}
        for e, st in self._stats.items():
            for k, val in zip(_STAT_FIELDS, st):
                out[k][e] = val
        return out

    def _consolidate(self) -> None:
        if self._pending:
            keys = self._pending[0].keys()
            self._parts.append({k: np.concatenate([p[k] for p in self._pending]) for k in keys})
            self._pending = []

    def arrays(self) -> dict[str, np.ndarray] | None:
        """All columns (in arrival order), or None when no entry gave an example."""
        self._consolidate()
        if not self._parts:
            return None
        out = {}
        for k in list(self._parts[0]):  # column by column, freeing the pieces as it goes
            out[k] = np.concatenate([p.pop(k) for p in self._parts])
        self._parts = []
        return out


class EntryResults:
    """What the coordinator keeps of each entry's summary besides its plan columns:
    the part file, its rejections, and running totals (timing, cached entries) —
    a few Python objects an entry, not the summary dicts themselves.
    """

    def __init__(self, ids: list[str]):
        self._index = {pid: k for k, pid in enumerate(ids)}
        self.parts: list[str | None] = [None] * len(ids)
        self.rejections: dict[str, list[tuple]] = {}
        self.timing: collections.Counter = collections.Counter()
        self.cached = 0

    def index(self, pdb_id: str) -> int:
        """The entry index of ``pdb_id`` (its position in PDB-id order)."""
        return self._index[pdb_id]

    def add(self, summary: dict) -> None:
        """Keep what is needed of one :func:`crysbench.build_entry.process_entry` summary."""
        pid = summary["pdb_id"]
        self.parts[self._index[pid]] = summary["part"]
        if summary["rejections"]:
            self.rejections[pid] = [tuple(r) for r in summary["rejections"]]
        self.timing.update(summary.get("timing", {}))
        self.cached += bool(summary["cached"])

    def all_rejections(self, ids: list[str]) -> list[tuple]:
        """Every entry's rejections, in entry order."""
        return [r for pid in ids for r in self.rejections.get(pid, ())]


_CHUNK = 1 << 16


def _packed(shapes: np.ndarray) -> np.ndarray:
    """Grid shapes as one int64 each, ordered as the rows (``np.unique(axis=0)`` order)."""
    g = shapes.astype(np.int64)
    return (g[:, 0] << 32) | (g[:, 1] << 16) | g[:, 2]


def plan_store(v: Variant, ids: list[str], columns: PlanColumns) -> dict:
    """Store order, splits and buckets from the compact per-example columns.

    ``ids`` are the entries in PDB-id order (the ``entry`` index of a row).
    """
    entry_split = {
        pid: assign_split(pid, v.split_key, v.test_fraction, v.valid_fraction) for pid in ids
    }
    codes = np.array([SPLIT_CODES[entry_split[p]] for p in ids], dtype=np.int8)
    stats = columns.stats(len(ids))
    c = columns.arrays()
    if c is None:
        return {"n": 0, "entry_split": entry_split}
    c["split"] = codes[c["entry"]]
    shape = c["grid_shape"]
    # store order: split, grid shape, PDB id, then (entity, start) — the rows of an entry
    # arrive in that order and the sort is stable. Each split's examples are contiguous
    # (scoring the test split reads no train rows) and bucketed within it.
    order = np.lexsort((c["entry"], shape[:, 2], shape[:, 1], shape[:, 0], c["split"]))
    for k in list(c):  # one column at a time: peak memory one column above the plan
        c[k] = c[k][order]
    del order
    shapes = c["grid_shape"]
    chunks = range(0, len(shapes), _CHUNK)  # in chunks: no n-sized temporaries
    keys = np.unique(np.concatenate([np.unique(_packed(shapes[i : i + _CHUNK])) for i in chunks]))
    bucket = np.empty(len(shapes), dtype=np.int32)
    for i in chunks:  # in chunks: no n-sized temporaries
        bucket[i : i + _CHUNK] = np.searchsorted(keys, _packed(c["grid_shape"][i : i + _CHUNK]))
    c["bucket"] = bucket
    c["bucket_keys"] = np.stack([keys >> 32, (keys >> 16) & 0xFFFF, keys & 0xFFFF], axis=1).astype(
        np.int16
    )
    c["n"] = len(c["split"])
    c["entry_split"] = entry_split
    c["entry_codes"] = codes
    c["entry_stats"] = stats
    return c
