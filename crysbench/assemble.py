"""Assembly of a store from its plan (:mod:`crysbench.plan`): blocks and attributes.

:func:`block_task` cuts the plan into the arguments of one block; :func:`write_block`
is the task that writes one block anywhere (a loky worker, a dask worker);
:func:`finish_store` writes the split lists, rejections, normalisation and attributes.
"""

from __future__ import annotations

import collections

import gemmi
import numpy as np
import zarr

from crysbench._version import __version__
from crysbench.plan import EntryResults, Plan
from crysbench.splits import SPLIT_CODES, fingerprint_lines
from crysbench.staging import PartError, PartFiles
from crysbench.store import SCHEMA_VERSION
from crysbench.storewriter import StoreLayout, StoreWriter
from crysbench.variants import Variant, library_versions
from crysbench.workspace import BuildError, open_files, peak_rss

__all__ = [
    "SPLIT_CODES",
    "reason_category",
    "block_task",
    "write_block",
    "write_splits",
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


def block_task(plan: Plan, layout: StoreLayout, b: int, parts: list[str]) -> tuple:
    """Arguments of the write task of block ``b``: its parts and record locations."""
    lo, hi = layout.rows(b)
    r = plan.rows(lo, hi)
    uniq, local = np.unique(r["entry"], return_inverse=True)
    # uint32, as the plan checked them: 12 bytes a row in flight to a worker, not 24
    loc = np.stack([r[k].astype(np.uint32) for k in ("offset", "length", "crc32")], axis=1)
    return (
        b,
        [parts[i] for i in uniq],
        local.reshape(-1).astype(np.int32),
        loc,
        r["split"],
        r["bucket"],
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
        "rss": peak_rss(),
        "fds": open_files(),
    }


#: Split name by the code of the ``split`` column.
SPLIT_NAMES = {c: s for s, c in SPLIT_CODES.items()}


def write_splits(tmp: str, layout: dict, counts: dict[str, int]) -> dict[str, int]:
    """Task: write ``splits/<name>`` of the store at ``tmp`` (read back from ``meta/id``,
    block by block), so the coordinator holds none of the store's ids."""
    return StoreWriter(tmp, StoreLayout.from_dict(layout)).write_id_lists(SPLIT_NAMES, counts)


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
    counts: dict[str, int] | None = None,
) -> dict:
    """Rejections, normalisation, fingerprint and attributes; the split id lists too,
    unless they were written already (:func:`write_splits`, whose ``counts`` are given)."""
    import numcodecs

    tally = plan.counts()
    if counts is None:
        counts = writer.write_id_lists(SPLIT_NAMES, plan.split_counts(tally))
    rejected = [tuple(r) for r in extra_rejections]
    rejected += results.all_rejections(ids)
    writer.write_table(
        "rejections",
        {name: [r[j] for r in rejected] for j, name in enumerate(("id", "reason", "stage"))},
    )
    # blocks return their lines sorted as bytes arrays; merged here (a few bytes a line)
    fingerprint = fingerprint_lines(np.concatenate(test_lines) if test_lines else [])
    count, count_train = tally["bucket"], tally["bucket_train"]
    buckets = [
        {"shape": [int(x) for x in key], "count": int(count[i]), "train": int(count_train[i])}
        for i, key in enumerate(plan.bucket_keys)
    ]
    timing = results.timing
    entry_split = plan.entry_split
    has = tally["entries"].tolist()
    entries_by_split = collections.Counter(entry_split[ids[k]] for k in has)
    rej_counts = collections.Counter(
        "download failed" if r[2] == "download" else reason_category(r[1]) for r in rejected
    )
    report = {
        "variant": v.key,
        "n_entries": len(ids),
        "n_examples": int(plan.n),
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
        "normalization": normalization(plan.entry_stats, plan.entry_codes),
        "buckets": buckets,
    }
    writer.finish({**attrs, "report": attrs_report(report)})
    return report


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
