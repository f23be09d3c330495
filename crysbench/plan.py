"""The build's plan: the coordinator's compact per-example columns, their store order,
splits and buckets.

Entry tasks hand in their rows as arrays (:func:`compact`, run in the worker).
:class:`PlanColumns` keeps at most 28 bytes an example (22 where an entry's sizes and
record lengths fit 16 bits, as a dipeptide's do): the record's location in its part
(offset, length, CRC-32), its two sizes, and one 64-bit *store key* that packs the
whole sort order — split code, grid-shape bucket, entry (PDB-id order) and the row's
place within its entry — so that :func:`plan_store` puts every example in store order
(split, grid shape, PDB id, entity, start) by sorting that one array in place, with no
permutation or gathered copies of the columns. Rows stay where they arrived; the
sorted keys find them (:meth:`Plan.rows`). :class:`EntryResults` keeps the rest of each
entry's summary (part file, rejections, running totals).

Key layout (most significant first): split code 2 bits, bucket 18 bits (262,144
distinct grid shapes), entry 24 bits (16.7 M entries), row within the entry 20 bits
(1,048,576 examples an entry). A build beyond a field stops with a message naming it.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence

import numpy as np

from crysbench.splits import SPLIT_CODES, assign_split
from crysbench.variants import Variant
from crysbench.workspace import release_memory

__all__ = [
    "compact",
    "PlanColumns",
    "Plan",
    "PlanError",
    "EntryResults",
    "plan_store",
    "entry_splits",
    "entry_codes",
]


#: Per-example columns an entry task hands in (:func:`compact`). Everything else of an
#: example stays in its part file until a block task reads it; the normalisation
#: statistics are kept per entry.
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


_ROW_DTYPES = {  # what the coordinator keeps of each example besides its key (widest)
    "offset": np.uint32,
    "length": np.uint32,
    "crc32": np.uint32,
    "n_refl": np.uint32,
    "n_atom": np.uint32,
}
_NARROW_MAX = np.iinfo(np.uint16).max  # a column piece whose values fit is kept in 16 bits
_SPLIT_SHIFT, _BUCKET_SHIFT, _ENTRY_SHIFT = 62, 44, 20
_BUCKET_BITS, _ENTRY_BITS, _LOCAL_BITS = 18, 24, 20
_CHUNK = 1 << 16


class PlanError(ValueError):
    """A build larger than the plan's key fields (see the module docstring)."""


def _packed(shapes: np.ndarray) -> np.ndarray:
    """Grid shapes as one int64 each, ordered as the rows (``np.unique(axis=0)`` order)."""
    g = np.asarray(shapes).astype(np.int64).reshape(-1, 3)
    return (g[:, 0] << 32) | (g[:, 1] << 16) | g[:, 2]


def _field(key: np.ndarray, shift: int, bits: int) -> np.ndarray:
    return ((key >> np.uint64(shift)) & np.uint64((1 << bits) - 1)).astype(np.int64)


class PlanColumns:
    """The coordinator's per-example columns, gathered as entries finish (compactly:
    small per-entry arrays are merged every ``merge`` entries, so the memory is the
    at most 28 bytes an example of the key and :data:`_ROW_DTYPES`, not Python objects).

    Parameters
    ----------
    codes : ndarray of int8
        Split code of every entry (:data:`crysbench.splits.SPLIT_CODES`), by entry index.
    merge : int
        Entries between merges of the pending small arrays.

    Examples
    --------
    >>> cols = PlanColumns(np.array([0], dtype=np.int8))
    >>> cols.add(0, *compact({"offset": [16, 40], "length": [24, 24], "crc32": [1, 2],
    ...     "n_refl": [5, 6], "n_atom": [3, 3], "grid_shape": [[8, 8, 8], [8, 8, 8]],
    ...     "entity": [1, 1], "start": [7, 2], "density_max": [1.0, 2.0],
    ...     "density_min": [-1.0, -3.0], "patterson_max": [9.0, 4.0]}))
    >>> plan = plan_store(cols, ["1ABC"], {"1ABC": "train"})
    >>> plan.rows(0, 2)["offset"].tolist()  # (entity, start) order within the entry
    [40, 16]
    >>> cols.stats()["density_min"].tolist()
    [-3.0]
    """

    def __init__(self, codes: np.ndarray, merge: int = 256):
        self.codes = np.asarray(codes, dtype=np.int8)
        n = len(self.codes)
        if n > 1 << _ENTRY_BITS:
            raise PlanError(f"{n:,} entries: a build holds at most {1 << _ENTRY_BITS:,}")
        self.merge = merge
        self._parts: list[dict] = []
        self._pending: list[dict] = []
        self._stats = {k: np.full(n, np.nan, dtype=np.float64) for k in _STAT_FIELDS}
        self.first_row = np.full(n, -1, dtype=np.int64)  # arrival row of an entry's first
        self.n = 0
        self._shape_id: dict[int, int] = {}  # packed grid shape -> arrival id

    def add(self, entry: int, rows: dict, stats: dict) -> None:
        """Add entry ``entry``'s rows and stats (:func:`compact` of its part header, made
        by the entry task, so the coordinator decodes no per-example Python objects)."""
        for k in _STAT_FIELDS:
            self._stats[k][entry] = stats[k]
        m = len(rows["offset"])
        if not m:
            return
        if m > 1 << _LOCAL_BITS:
            raise PlanError(f"entry {entry}: {m:,} examples, at most {1 << _LOCAL_BITS:,}")
        packed = _packed(rows["grid_shape"])
        uniq, inverse = np.unique(packed, return_inverse=True)
        ids = np.array([self._shape_id.setdefault(int(p), len(self._shape_id)) for p in uniq])
        if len(self._shape_id) > 1 << _BUCKET_BITS:
            raise PlanError(f"more than {1 << _BUCKET_BITS:,} distinct grid shapes")
        key = (
            (np.uint64(int(self.codes[entry])) << np.uint64(_SPLIT_SHIFT))
            | (ids[inverse.reshape(-1)].astype(np.uint64) << np.uint64(_BUCKET_SHIFT))
            | (np.uint64(entry) << np.uint64(_ENTRY_SHIFT))
            | np.arange(m, dtype=np.uint64)
        )
        cols = {"key": key}
        for k, dt in _ROW_DTYPES.items():
            a = np.asarray(rows[k])
            top = int(a.max()) if a.size else 0
            if top > np.iinfo(dt).max:
                raise PlanError(f"entry {entry}: {k} {top:,} exceeds {np.iinfo(dt).max:,}")
            # 16 bits while the entry's values fit (a dipeptide's sizes and record
            # lengths always do): the merged column widens to the widest piece
            cols[k] = a.astype(np.uint16 if top <= _NARROW_MAX else dt)
        self.first_row[entry] = self.n
        self.n += m
        self._pending.append(cols)
        if len(self._pending) >= self.merge:
            self._consolidate()

    def stats(self) -> dict[str, np.ndarray]:
        """Per-entry statistics as arrays indexed by entry (``nan`` where none)."""
        return self._stats

    def shapes(self) -> np.ndarray:
        """Distinct grid shapes, packed (:func:`_packed`), in order of arrival id."""
        out = np.empty(len(self._shape_id), dtype=np.int64)
        for p, i in self._shape_id.items():
            out[i] = p
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
        for k in list(self._parts[0]):
            # column by column into an array of the final size, freeing each piece once
            # copied: one piece, not a second column, is ever held twice
            dtype = np.result_type(*(p[k].dtype for p in self._parts))
            col = np.empty(sum(len(p[k]) for p in self._parts), dtype=dtype)
            pos = 0
            for p in self._parts:
                piece = p.pop(k)
                col[pos : pos + len(piece)] = piece
                pos += len(piece)
                del piece
            out[k] = col
        self._parts = []
        release_memory()  # the pieces' pages go back to the system, not to the heap
        return out


class Plan:
    """Store order of every example: the sorted keys and the arrival-order columns.

    Attributes
    ----------
    n : int
        Examples.
    bucket_keys : ndarray, shape=(nb, 3), int16
        Grid shape of each bucket, in store order.
    entry_split : dict
        Split name of every PDB id.
    entry_codes : ndarray of int8
        Split code of every entry.
    entry_stats : dict of ndarray
        Per-entry normalisation statistics (:func:`crysbench.assemble.normalization`).
    """

    def __init__(self, key, cols, first_row, bucket_keys, entry_split, codes, stats):
        self.key, self.cols, self.first_row = key, cols, first_row
        self.n = len(key)
        self.bucket_keys = bucket_keys
        self.entry_split, self.entry_codes, self.entry_stats = entry_split, codes, stats

    def rows(
        self, lo: int, hi: int, columns: Sequence[str] = tuple(_ROW_DTYPES)
    ) -> dict[str, np.ndarray]:
        """Store rows ``[lo, hi)``: ``split``, ``bucket``, ``entry`` and the named
        :data:`_ROW_DTYPES` columns, in store order."""
        key = self.key[lo:hi]
        out = {
            "split": _field(key, _SPLIT_SHIFT, 2).astype(np.int8),
            "bucket": _field(key, _BUCKET_SHIFT, _BUCKET_BITS).astype(np.int32),
            "entry": _field(key, _ENTRY_SHIFT, _ENTRY_BITS),
        }
        if columns:
            at = self.first_row[out["entry"]] + _field(key, 0, _LOCAL_BITS)
            out.update({k: self.cols[k][at] for k in columns})
        return out

    def chunks(self, columns: Sequence[str] = ()):
        """:meth:`rows` of consecutive chunks of 65,536 rows (bounded memory)."""
        for lo in range(0, self.n, _CHUNK):
            yield self.rows(lo, min(lo + _CHUNK, self.n), columns)

    def block_totals(self, block: int) -> tuple[np.ndarray, np.ndarray]:
        """Reflections and atoms of each block of ``block`` store rows."""
        starts = range(0, max(self.n, 1), block)
        refl = np.zeros(len(starts), dtype=np.int64)
        atom = np.zeros(len(starts), dtype=np.int64)
        for b, lo in enumerate(starts):
            for c in range(lo, min(lo + block, self.n), _CHUNK):
                r = self.rows(c, min(c + _CHUNK, lo + block, self.n), ("n_refl", "n_atom"))
                refl[b] += int(r["n_refl"].sum(dtype=np.int64))
                atom[b] += int(r["n_atom"].sum(dtype=np.int64))
        return refl, atom

    def counts(self) -> dict[str, np.ndarray]:
        """Examples per split code (``split``), per bucket (``bucket``) and per bucket
        in the training split (``bucket_train``); entries with examples (``entries``,
        sorted entry indices)."""
        nb = len(self.bucket_keys)
        split = np.zeros(4, dtype=np.int64)
        bucket = np.zeros(nb, dtype=np.int64)
        train = np.zeros(nb, dtype=np.int64)
        has = np.zeros(len(self.first_row), dtype=bool)
        for r in self.chunks():
            split += np.bincount(r["split"], minlength=4)
            bucket += np.bincount(r["bucket"], minlength=nb)
            tr = r["split"] == SPLIT_CODES["train"]
            train += np.bincount(r["bucket"][tr], minlength=nb)
            has[r["entry"]] = True
        return {"split": split, "bucket": bucket, "bucket_train": train,
                "entries": np.flatnonzero(has)}  # fmt: skip

    def split_counts(self, counts: dict | None = None) -> dict[str, int]:
        """Examples of each split (by name), from :meth:`counts` (pass them if made)."""
        split = (counts or self.counts())["split"]
        return {name: int(split[c]) for name, c in SPLIT_CODES.items()}

    def release_columns(self) -> None:
        """Drop the per-example columns (after the blocks are written)."""
        self.cols = {}


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


def entry_splits(v: Variant, ids: list[str]) -> dict[str, str]:
    """Split name of every entry (the recipe's rule, by PDB id)."""
    return {pid: assign_split(pid, v.split_key, v.test_fraction, v.valid_fraction) for pid in ids}


def entry_codes(entry_split: dict[str, str], ids: list[str]) -> np.ndarray:
    """Split code of each entry (int8, by entry index), for :class:`PlanColumns`."""
    return np.array([SPLIT_CODES[entry_split[p]] for p in ids], dtype=np.int8)


def plan_store(columns: PlanColumns, ids: list[str], entry_split: dict[str, str]) -> Plan:
    """Store order, splits and buckets from the compact per-example columns.

    ``ids`` are the entries in PDB-id order (the ``entry`` index of a row);
    ``columns`` were made with :func:`entry_codes` of ``entry_split``. The keys hold
    each grid shape's arrival id; it is replaced by the shape's rank (the bucket, in
    shape order) a chunk at a time, then the keys are sorted in place: store order is
    the order of the keys.
    """
    packed = columns.shapes()
    order = np.argsort(packed, kind="stable")
    rank = np.empty(len(packed), dtype=np.uint64)
    rank[order] = np.arange(len(packed), dtype=np.uint64)
    c = columns.arrays()
    if c is None:
        key, c = np.zeros(0, dtype=np.uint64), {k: np.zeros(0, dt) for k, dt in _ROW_DTYPES.items()}
    else:
        key = c.pop("key")
    clear = ~np.uint64(((1 << _BUCKET_BITS) - 1) << _BUCKET_SHIFT)
    for lo in range(0, len(key), _CHUNK):  # in chunks: no n-sized temporaries
        k = key[lo : lo + _CHUNK]
        shape_id = _field(k, _BUCKET_SHIFT, _BUCKET_BITS)
        k &= clear
        k |= rank[shape_id] << np.uint64(_BUCKET_SHIFT)
    key.sort()  # in place; keys are unique (entry, row within entry)
    sp = packed[order]
    keys = np.stack([sp >> 32, (sp >> 16) & 0xFFFF, sp & 0xFFFF], axis=1).astype(np.int16)
    return Plan(key, c, columns.first_row, keys, entry_split, columns.codes, columns.stats())
