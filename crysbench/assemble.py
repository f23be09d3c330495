"""Assembly of a store from the per-entry summaries: order, splits, blocks, attributes.

:func:`plan_store` runs in the build's coordinator on compact per-example columns
(about 50 bytes an example); :func:`write_block` is the task that writes one block
anywhere (a loky worker, a dask worker); :func:`finish_store` writes the split
lists, rejections and attributes.
"""

from __future__ import annotations

import collections
import hashlib
import resource

import gemmi
import numpy as np
import zarr

from crysbench._version import __version__
from crysbench.splits import SPLIT_CODES, assign_split
from crysbench.staging import PartError, PartFiles
from crysbench.store import SCHEMA_VERSION
from crysbench.storewriter import StoreLayout, StoreWriter
from crysbench.variants import Variant, library_versions
from crysbench.workspace import BuildError, open_files

__all__ = [
    "SPLIT_CODES",
    "reason_category",
    "plan_store",
    "PlanColumns",
    "EntryResults",
    "block_task",
    "write_block",
    "finish_store",
    "attrs_report",
]


def reason_category(reason: str) -> str:
    """Short category of a rejection reason, for the report."""
    for key in (
        "non-standard residue",
        "missing heavy atom",
        "crosses a gap",
        "intermolecular clash",
        "method",
        "resolution",
        "R-free",
        "deposited",
        "no protein chain",
        "unreadable",
    ):
        if reason.startswith(key) or key in reason[:40]:
            return key
    return reason.split(":")[0][:40]


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


def block_task(plan: dict, layout: StoreLayout, b: int, parts: list[str]) -> tuple:
    """Arguments of the write task of block ``b``: its parts and record locations."""
    lo, hi = layout.rows(b)
    uniq, local = np.unique(plan["entry"][lo:hi], return_inverse=True)
    loc = np.stack([plan[k][lo:hi] for k in ("offset", "length", "crc32")], axis=1)
    return (
        b,
        [parts[i] for i in uniq],
        local.reshape(-1).astype(np.int32),
        loc,
        plan["split"][lo:hi],
        plan["bucket"][lo:hi],
    )


def write_block(
    tmp: str,
    layout: dict,
    b: int,
    parts: list[str],
    local: np.ndarray,
    loc: np.ndarray,
    split: np.ndarray,
    bucket: np.ndarray,
) -> dict:
    """Task: write block ``b`` of the store at ``tmp`` from its examples' part records.

    Returns the test split's ``id:checksum`` lines of the block, sorted, as a NumPy
    bytes array (for the fingerprint; a few bytes an example in the coordinator rather
    than two Python strings), and the worker's peak RSS and open files.
    """
    import time

    cpu0 = time.process_time()
    writer = StoreWriter(tmp, StoreLayout.from_dict(layout))
    test: list[bytes] = []
    with PartFiles(max_open=32) as files:

        def records():
            for j in range(len(local)):
                off, length, crc = (int(x) for x in loc[j])
                path = parts[local[j]]
                try:
                    rec = files.read(path, off, length, crc)
                except (PartError, OSError) as exc:
                    _discard(path)
                    raise BuildError(
                        f"{exc}; the damaged cached entry was removed: run the same command "
                        "again to remake it"
                    ) from None
                if split[j] == SPLIT_CODES["test"]:
                    test.append(f"{rec['head']['id']}:{rec['head']['checksum']}".encode("ascii"))
                yield rec

        writer.write_block(b, records(), {"split": split, "bucket": bucket})
    return {
        "test": np.sort(np.array(test, dtype=bytes)),
        "cpu": time.process_time() - cpu0,
        "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "fds": open_files(),
    }


def _discard(path: str) -> None:
    import contextlib
    import os

    with contextlib.suppress(OSError):
        os.unlink(path)


def finish_store(
    v: Variant,
    ids,
    results: EntryResults,
    plan,
    writer: StoreWriter,
    test_lines,
    extra_rejections=(),
) -> dict:
    """Split lists, rejections, normalisation, fingerprint and attributes."""
    import numcodecs

    counts = writer.write_id_lists({c: s for s, c in SPLIT_CODES.items()})
    rejected = [tuple(r) for r in extra_rejections]
    rejected += results.all_rejections(ids)
    writer.write_table(
        "rejections",
        {name: [r[j] for r in rejected] for j, name in enumerate(("id", "reason", "stage"))},
    )
    fingerprint = fingerprint_of_lines(test_lines)
    train = plan["split"] == SPLIT_CODES["train"]
    nb = len(plan["bucket_keys"])
    count = np.bincount(plan["bucket"], minlength=nb)
    count_train = np.bincount(plan["bucket"][train], minlength=nb)
    buckets = [
        {"shape": [int(x) for x in key], "count": int(count[i]), "train": int(count_train[i])}
        for i, key in enumerate(plan["bucket_keys"])
    ]
    timing = results.timing
    entry_split = plan["entry_split"]
    has = sorted(set(np.unique(plan["entry"]).tolist()))
    entries_by_split = collections.Counter(entry_split[ids[k]] for k in has)
    rej_counts = collections.Counter(
        "download failed" if r[2] == "download" else reason_category(r[1]) for r in rejected
    )
    report = {
        "variant": v.key,
        "n_entries": len(ids),
        "n_examples": int(plan["n"]),
        "counts": counts,
        "entries": dict(entries_by_split),
        "rejected": dict(sorted(rej_counts.items())),
        "rejections": [list(r) for r in rejected],
        "buckets": buckets,
        "time": {k: round(float(val), 3) for k, val in timing.items()},
    }
    attrs = {
        "crysbench_schema": SCHEMA_VERSION,
        "variant": v.key,
        "recipe": v.to_dict(),
        "recipe_hash": v.recipe_hash,
        "crysbench_version": __version__,
        "gemmi_version": gemmi.__version__,
        "library_versions": {
            **library_versions(),
            "zarr": zarr.__version__,
            "numcodecs": numcodecs.__version__,
        },
        "counts": counts,
        "entries": dict(entries_by_split),
        "fingerprint": fingerprint,
        "normalization": normalization(plan["entry_stats"], plan["entry_codes"]),
        "buckets": buckets,
    }
    writer.finish({**attrs, "report": attrs_report(report)})
    return report


def fingerprint_of_lines(blocks: list[np.ndarray]) -> str:
    """:func:`crysbench.splits.split_fingerprint` of the blocks' ``id:checksum`` lines.

    The same SHA-256 over the sorted lines, from bytes arrays (ids and checksums are
    ASCII, so byte order is string order).

    Examples
    --------
    >>> from crysbench.splits import split_fingerprint
    >>> fingerprint_of_lines([np.array([b"b:2"]), np.array([b"a:1"])]) == split_fingerprint(
    ...     ["a", "b"], ["1", "2"])
    True
    """
    lines = np.sort(np.concatenate(blocks)) if blocks else np.zeros(0, dtype=bytes)
    return hashlib.sha256(b"\n".join(lines.tolist())).hexdigest()


def normalization(stats: dict[str, np.ndarray], codes: np.ndarray) -> dict:
    """Dataset-wide scaling constants from the training split (paper: max |value|).

    Parameters
    ----------
    stats : dict of ndarray
        ``density_max``, ``density_min``, ``patterson_max`` of each group of examples
        (an entry in the build, an example in :class:`crysbench.MemoryStore`); ``nan``
        for a group without examples. Extremes of extremes are the split's extremes.
    codes : ndarray of int
        Split code of each group (:data:`SPLIT_CODES`).

    The Patterson scale is its largest origin peak (no Patterson value exceeds P(0) in
    magnitude), so only its maximum is recorded.

    Examples
    --------
    >>> st = {"density_max": np.array([2.0, 5.0]), "density_min": np.array([-3.0, -1.0]),
    ...       "patterson_max": np.array([9.0, 7.0])}
    >>> normalization(st, np.array([0, 2]))["density"]["scale"]  # the test entry is ignored
    3.0
    """
    has = ~np.isnan(stats["patterson_max"])
    train = has & (codes == SPLIT_CODES["train"])
    sel = train if train.any() else has
    source = "train" if train.any() else "all"
    mx = float(np.float32(stats["density_max"][sel].max()))
    mn = float(np.float32(stats["density_min"][sel].min()))
    pmax = float(stats["patterson_max"][sel].max())
    return {
        "density": {"max": mx, "min": mn, "scale": max(abs(mx), abs(mn)), "source_split": source},
        "patterson": {"max": pmax, "scale": pmax, "source_split": source},
    }


def attrs_report(report: dict, keep: int = 1000) -> dict:
    """The report as saved in the store's attributes: the full rejection list lives
    in the ``rejections/`` arrays, and long id lists are cut to ``keep`` items, so
    ``zarr.json`` stays small for a full-size build."""
    out = {k: v for k, v in report.items() if k != "rejections"}
    paper = out.get("paper")
    if paper and len(paper["missing"]) > keep:
        out["paper"] = {
            **paper,
            "missing": dict(list(paper["missing"].items())[:keep]),
            "missing_truncated_to": keep,
        }
    return out
