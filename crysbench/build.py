"""``crysbench build``: source → entries → examples → zarr store. (io)

Pipeline
--------
1. *Per entry* (parallel: joblib/loky on one machine, or a dask cluster): read,
   curate, cut segments, make examples, compute per-example map statistics. The
   result of each entry is saved atomically as a folder ``<work>/<PDBID>/`` of ``.npy``
   files (no pickles; read back memory-mapped).
   A killed build finds these files and skips finished entries (resume).
2. *Assembly*: examples are ordered by (bucket = grid shape, PDB id, entity,
   start), splits are assigned by PDB id, normalisation constants are taken from
   the training split, and the store is written to a temporary folder, then
   renamed over the target — a finished store is never half-overwritten.

Output bytes depend only on the recipe and the input files, not on the number of
workers, the backend or interruptions.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import gemmi
import numpy as np
import zarr

from crysbench._version import __version__
from crysbench.example import examples_from_entry
from crysbench.segments import Rejection
from crysbench.splits import assign_split, split_fingerprint
from crysbench.store import SCHEMA_VERSION, disk_usage, example_checksum, write_arrays
from crysbench.structures import StructureError, read_entry
from crysbench.variants import Variant, get_variant

__all__ = ["build_store", "process_entry", "BuildError", "reason_category"]


class BuildError(RuntimeError):
    """A build that cannot go on (bad output location, no entries, ...)."""


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


# -- per-entry work ----------------------------------------------------------------
def process_entry(path: str, pdb_id: str, variant_key: str, work_dir: str) -> str:
    """Make all examples of one entry and save them to ``work_dir/<PDBID>/``.

    Returns the path of the result file. Finished entries are not redone.
    """
    out = Path(work_dir) / pdb_id
    if out.is_dir():
        return str(out)
    v = get_variant(variant_key)
    t0 = time.perf_counter()
    rejected: list[Rejection] = []
    rows: list[dict] = []
    timing = collections.Counter()
    try:
        entry = read_entry(path, pdb_id=pdb_id)
        reasons = entry.curation_reasons()
        timing["read"] += time.perf_counter() - t0
        if reasons:
            rejected.extend(Rejection(pdb_id, r, "entry") for r in reasons)
        else:
            for ex in examples_from_entry(entry, v, rejected):
                timing["cell"] += ex.timings["cell"]
                timing["structure_factors"] += ex.timings["structure_factors"]
                t1 = time.perf_counter()
                d = ex.density
                timing["maps"] += time.perf_counter() - t1
                rows.append(_row(ex, d))
    except StructureError as exc:
        rejected.append(Rejection(pdb_id, f"unreadable: {exc}", "entry"))
    timing["total"] = time.perf_counter() - t0
    _save_entry(out, pdb_id, rows, rejected, dict(timing))
    return str(out)


def _row(ex, density: np.ndarray) -> dict:
    z = np.array([gemmi.Element(str(e)).atomic_number for e in ex.elements], dtype=np.uint8)
    names = np.zeros((len(ex.atom_names), 4), dtype=np.uint8)
    for i, n in enumerate(ex.atom_names):
        b = str(n).encode()[:4]
        names[i, : len(b)] = np.frombuffer(b, dtype=np.uint8)
    return {
        "id": ex.id,
        "pdb_id": ex.pdb_id,
        "entity": ex.entity,
        "chain": ex.chain,
        "start": ex.start,
        "sequence": ex.sequence,
        "cell": np.array(ex.cell.parameters, dtype=np.float64),
        "dmin": ex.dmin,
        "rate": ex.rate,
        "grid_shape": np.array(ex.grid_shape, dtype=np.int32),
        "hkl": ex.hkl.astype(np.int16),
        "F": np.stack([ex.F.real, ex.F.imag], axis=1).astype(np.float32),
        "element": z,
        "name": names,
        "residue": ex.residue_index.astype(np.int16),
        "xyz": ex.positions.astype(np.float32),
        "density_max": float(density.max()),
        "density_min": float(density.min()),
        # The Patterson's largest value is its origin peak, P(0) = (1/V) Σ_h |F(h)|²
        # (|P(u)| ≤ P(0) for an autocorrelation), so no Patterson synthesis is needed.
        "patterson_max": float(
            2.0 * np.sum(np.abs(ex.F.astype(np.complex128)) ** 2) / ex.cell.volume
        ),
        "checksum": example_checksum(ex.hkl, ex.F, ex.grid_shape),
    }


_SCALARS = (
    "id",
    "pdb_id",
    "entity",
    "chain",
    "start",
    "sequence",
    "dmin",
    "rate",
    "density_max",
    "density_min",
    "patterson_max",
    "checksum",
)
_VECTORS = ("cell", "grid_shape")
_RAGGED = {
    "hkl": "refl",
    "F": "refl",
    "element": "atom",
    "name": "atom",
    "residue": "atom",
    "xyz": "atom",
}


def _save_entry(out: Path, pdb_id: str, rows, rejected, timing) -> None:
    arrays: dict[str, np.ndarray] = {}
    for k in _SCALARS:
        arrays[k] = np.array([r[k] for r in rows])
    for k, width in (("cell", 6), ("grid_shape", 3)):
        arrays[k] = np.array([r[k] for r in rows]).reshape(len(rows), width)
    for k in _RAGGED:
        parts = [r[k] for r in rows]
        arrays[k] = np.concatenate(parts) if parts else np.zeros((0,))
    arrays["n_refl"] = np.array([len(r["hkl"]) for r in rows], dtype=np.int64)
    arrays["n_atom"] = np.array([len(r["element"]) for r in rows], dtype=np.int64)
    arrays["rejected"] = np.array(
        [json.dumps([r.id, r.reason, r.stage]) for r in rejected], dtype=str
    )
    arrays["timing"] = np.array(json.dumps(timing))
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    for k, a in arrays.items():
        np.save(tmp / f"{k}.npy", a, allow_pickle=False)
    os.replace(tmp, out)  # atomic: a killed worker leaves only a *.tmp-* folder


class _EntryData:
    """Memory-mapped access to one entry's saved examples (no pickles)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._arrays: dict[str, np.ndarray] = {}
        self.refl_off = np.concatenate([[0], np.cumsum(self["n_refl"])])
        self.atom_off = np.concatenate([[0], np.cumsum(self["n_atom"])])

    def __getitem__(self, key: str) -> np.ndarray:
        a = self._arrays.get(key)
        if a is None:
            a = np.load(self.path / f"{key}.npy", mmap_mode="r", allow_pickle=False)
            self._arrays[key] = a
        return a

    def ragged(self, key: str, i: int) -> np.ndarray:
        off = self.refl_off if _RAGGED[key] == "refl" else self.atom_off
        return np.asarray(self[key][off[i] : off[i + 1]])


def _ragged_row(e: _EntryData, key: str, i: int) -> np.ndarray:
    if key == "refl":  # one table per reflection: Re F, Im F, h, k, l (one read)
        return np.concatenate([e.ragged("F", i), e.ragged("hkl", i).astype(np.float32)], axis=1)
    return e.ragged(key, i)


# -- the whole build -------------------------------------------------------------
@dataclass
class _Meta:
    pdb_id: str
    index: int
    key: tuple


def _is_url(path: str) -> bool:
    return "://" in str(path)


def default_out(variant: Variant) -> str:
    """Default store path: ``<name>.zarr`` in the current folder."""
    return f"{variant.name}.zarr"


def _run_entries(tasks, jobs: int, backend: str, scheduler: str | None, progress: bool):
    from joblib import Parallel, delayed, parallel_config
    from tqdm.auto import tqdm

    bar = tqdm(
        total=len(tasks), desc="entries", unit="entry", disable=not progress, file=sys.stderr
    )
    calls = (delayed(process_entry)(*t) for t in tasks)
    if backend == "dask":
        try:
            from dask.distributed import Client
        except ImportError:
            raise BuildError("--backend dask needs `pip install crysbench[dask]`") from None
        client = Client(scheduler) if scheduler else Client(processes=False)
        try:
            with parallel_config(backend="dask"):
                for _ in Parallel(n_jobs=-1, return_as="generator_unordered")(calls):
                    bar.update()
        finally:
            client.close()
    elif jobs == 1:
        for t in tasks:
            process_entry(*t)
            bar.update()
    else:
        for _ in Parallel(n_jobs=jobs, backend="loky", return_as="generator_unordered")(calls):
            bar.update()
    bar.close()


def build_store(
    variant: str | Variant = "var-res",
    source: str = "bundled",
    out: str | None = None,
    jobs: int = 1,
    backend: str = "loky",
    scheduler: str | None = None,
    limit: int | None = None,
    work_dir: str | None = None,
    progress: bool = True,
    entries: dict[str, Path] | None = None,
    cache_dir: str | None = None,
) -> dict:
    """Build (or resume) a store; returns the build report.

    Parameters
    ----------
    variant : str
        ``"dipeptide"``, ``"const-res"``, ``"var-res"``, optionally ``@version``.
    source : str
        ``"bundled"``, ``"rcsb"``, ``"paper"`` or a local folder / PDB mirror.
    out : str, optional
        Local path or fsspec URL; default ``<variant>.zarr``.
    jobs : int
        Worker processes (loky backend).
    backend : {"loky", "dask"}
    scheduler : str, optional
        Dask scheduler address (``tcp://host:8786``); a local cluster otherwise.
    limit : int, optional
        Use only the first N entries (sorted by PDB id).
    work_dir : str, optional
        Where per-entry results are kept for resuming; default ``<out>.partial``.
    entries : dict, optional
        Explicit ``{pdb_id: path}`` instead of resolving ``source``.
    cache_dir : str, optional
        Download cache of the ``rcsb``/``paper`` sources (default ``~/.cache/crysbench/pdb``).

    Returns
    -------
    dict
        The build report (also saved in the store's attributes).
    """
    v = get_variant(variant)
    out = str(out or default_out(v))
    t_start = time.perf_counter()
    if entries is None:
        from crysbench.sources import resolve_source

        entries = resolve_source(source, cache_dir=cache_dir)
    ids = sorted(entries)
    if limit is not None:
        ids = ids[:limit]
    if not ids:
        raise BuildError(f"source {source!r} has no entries")
    if work_dir is None:
        if _is_url(out):
            cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
            work_dir = str(
                cache / "crysbench" / "partial" / out.replace("://", "_").replace("/", "_")
            )
        else:
            work_dir = out.rstrip("/") + ".partial"
    work = Path(work_dir) / v.key / v.recipe_hash
    try:
        work.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BuildError(f"cannot create work folder {work}: {exc}") from None
    tasks = [(str(entries[i]), i, v.key, str(work)) for i in ids]
    t0 = time.perf_counter()
    _run_entries(tasks, jobs, backend, scheduler, progress)
    t_entries = time.perf_counter() - t0
    report = _assemble(v, ids, work, out, progress)
    report["time"]["entries_wall"] = round(t_entries, 3)
    report["time"]["total_wall"] = round(time.perf_counter() - t_start, 3)
    report["source"] = source
    if v.name == "const-res":
        report["paper"] = _paper_summary(out, report, ids)
    report["jobs"] = jobs
    report["backend"] = backend
    _write_report(out, report)
    if not _is_url(out):
        shutil.rmtree(work_dir, ignore_errors=True)
    return report


def _paper_summary(out: str, report: dict, ids: list[str]) -> dict:
    """Reproduction of the paper's const-res example ids for the entries built."""
    from crysbench.rcsb import paper_pdb_ids, paper_reproduction
    from crysbench.store import open_store

    entries = set(paper_pdb_ids()) & set(ids)
    built = [i for i in open_store(out).ids() if i.split("_")[0] in entries]
    rep = paper_reproduction(built, report["rejections"], entries)
    reasons = collections.Counter(reason_category(r) for r in rep["missing"].values())
    return {
        "entries": sorted(entries),
        "paper_ids": rep["paper_ids"],
        "reproduced": rep["reproduced"],
        "missing": dict(sorted(rep["missing"].items())),
        "missing_by_reason": dict(reasons),
        "extra": rep["extra"],
    }


def _attrs_report(report: dict, keep: int = 1000) -> dict:
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


def _write_report(out: str, report: dict) -> None:
    g = zarr.open_group(out, mode="r+")
    g.attrs.update({"report": _attrs_report(report)})


def _assemble(v: Variant, ids: list[str], work: Path, out: str, progress: bool) -> dict:
    t0 = time.perf_counter()
    metas: list[_Meta] = []
    rejected: list[tuple[str, str, str]] = []
    timing = collections.Counter()
    entry_split: dict[str, str] = {}
    per_entry: dict[str, dict] = {}
    for pid in ids:
        z = _EntryData(work / pid)
        rejected.extend(tuple(json.loads(s)) for s in z["rejected"].tolist())
        timing.update(json.loads(str(z["timing"])))
        shapes = np.asarray(z["grid_shape"]).reshape(-1, 3)
        entity, start = np.asarray(z["entity"]), np.asarray(z["start"])
        for i in range(len(z["id"])):
            key = (tuple(int(x) for x in shapes[i]), pid, int(entity[i]), int(start[i]))
            metas.append(_Meta(pid, i, key))
        per_entry[pid] = {"examples": int(len(z["id"]))}
        entry_split[pid] = assign_split(pid, v.split_key, v.test_fraction, v.valid_fraction)
    metas.sort(key=lambda m: m.key)
    n = len(metas)
    if n == 0:
        raise BuildError("no examples survived curation and filtering; nothing to store")

    cache: collections.OrderedDict[str, _EntryData] = collections.OrderedDict()

    def entry(pid: str) -> _EntryData:
        if pid in cache:
            cache.move_to_end(pid)
            return cache[pid]
        d = _EntryData(work / pid)
        cache[pid] = d
        if len(cache) > 256:  # memory-mapped, so memory stays flat in the number of examples
            cache.popitem(last=False)
        return d

    cols: dict[str, list] = collections.defaultdict(list)
    refl_off = np.zeros(n + 1, dtype=np.int64)
    atom_off = np.zeros(n + 1, dtype=np.int64)
    for j, m in enumerate(metas):
        e = entry(m.pdb_id)
        for k in _SCALARS + _VECTORS:
            cols[k].append(e[k][m.index])
        refl_off[j + 1] = refl_off[j] + e["n_refl"][m.index]
        atom_off[j + 1] = atom_off[j] + e["n_atom"][m.index]
    split_names = np.array([entry_split[m.pdb_id] for m in metas])
    split_code = np.array([{"train": 0, "valid": 1, "test": 2}[s] for s in split_names], np.int8)
    shapes = np.array(cols["grid_shape"], dtype=np.int32)
    bucket_keys = sorted({tuple(s) for s in shapes.tolist()})
    bucket_index = {b: i for i, b in enumerate(bucket_keys)}
    bucket = np.array([bucket_index[tuple(s)] for s in shapes.tolist()], dtype=np.int32)

    tmp = out if _is_url(out) else out.rstrip("/") + ".tmp-build"
    if not _is_url(out):
        shutil.rmtree(tmp, ignore_errors=True)
    root = zarr.open_group(tmp, mode="w", zarr_format=3)
    meta = root.create_group("meta")
    for k in ("id", "pdb_id", "chain", "sequence", "checksum"):
        write_arrays(meta, k, np.array(cols[k], dtype=str))
    for k, dt in (
        ("entity", np.int32),
        ("start", np.int32),
        ("dmin", np.float64),
        ("rate", np.float64),
        ("density_max", np.float32),
        ("density_min", np.float32),
        ("patterson_max", np.float32),
    ):
        write_arrays(meta, k, np.array(cols[k], dtype=dt))
    write_arrays(meta, "cell", np.array(cols["cell"], dtype=np.float64))
    write_arrays(meta, "grid_shape", shapes)
    write_arrays(meta, "split", split_code)
    write_arrays(meta, "bucket", bucket)
    write_arrays(meta, "refl_offset", refl_off)
    write_arrays(meta, "atom_offset", atom_off)

    # ragged arrays, streamed in blocks of examples in store order
    atoms = root.create_group("atoms")
    specs = {
        "refl": (root, "reflections", (5,), np.float32, refl_off),
        "element": (atoms, "element", (), np.uint8, atom_off),
        "name": (atoms, "name", (4,), np.uint8, atom_off),
        "residue": (atoms, "residue", (), np.int16, atom_off),
        "xyz": (atoms, "xyz", (3,), np.float32, atom_off),
    }
    from crysbench.store import compressor

    arrays = {}
    for k, (grp, name, tail, dt, off) in specs.items():
        total = int(off[-1])
        # small inner chunks keep random access cheap; big shards keep files few
        chunk = min(1 << 13, max(total, 1))
        shard = min(chunk * 256, max(total, 1))
        shard = int(np.ceil(shard / chunk) * chunk)
        arrays[k] = grp.create_array(
            name,
            shape=(total,) + tail,
            dtype=dt,
            chunks=(chunk,) + tail,
            shards=(shard,) + tail,
            compressors=compressor(),
        )
    block = 512  # examples per write: bounds memory (~60 MB of reflections)
    for s in range(0, n, block):
        e_idx = range(s, min(s + block, n))
        for k, (_, _, _, dt, off) in specs.items():
            parts = [_ragged_row(entry(metas[j].pdb_id), k, metas[j].index) for j in e_idx]
            data = np.concatenate(parts).astype(dt) if parts else None
            if data is not None and len(data):
                arrays[k][int(off[s]) : int(off[e_idx[-1] + 1])] = data.reshape(
                    (-1,) + arrays[k].shape[1:]
                )

    splits_grp = root.create_group("splits")
    ids_arr = np.array(cols["id"], dtype=str)
    counts = {}
    for name in ("train", "valid", "test"):
        sel = ids_arr[split_names == name]
        write_arrays(splits_grp, name, sel)
        counts[name] = int(len(sel))

    checks = np.array(cols["checksum"], dtype=str)
    test = split_names == "test"
    fingerprint = split_fingerprint(ids_arr[test], checks[test])
    train = split_names == "train"
    normalization = _normalization(cols, train)
    buckets = [
        {
            "shape": list(b),
            "count": int((bucket == i).sum()),
            "train": int(((bucket == i) & train).sum()),
        }
        for i, b in enumerate(bucket_keys)
    ]
    rej_counts = collections.Counter(reason_category(r[1]) for r in rejected)
    entries_by_split = collections.Counter(entry_split[p] for p in ids if per_entry[p]["examples"])
    report = {
        "variant": v.key,
        "n_entries": len(ids),
        "n_examples": n,
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
        "counts": counts,
        "entries": dict(entries_by_split),
        "fingerprint": fingerprint,
        "normalization": normalization,
        "buckets": buckets,
    }
    rej = root.create_group("rejections")
    for j, name in enumerate(("id", "reason", "stage")):
        write_arrays(rej, name, np.array([r[j] for r in rejected], dtype=str))
    root.attrs.update({**attrs, "report": _attrs_report(report)})
    report["time"]["assemble"] = round(time.perf_counter() - t0, 3)
    if not _is_url(out):
        _swap_into_place(tmp, out)
        nbytes, nfiles = disk_usage(out)
        report["bytes_per_example"] = round(nbytes / n, 1)
        report["files_per_1000"] = round(1000 * nfiles / n, 2)
        report["bytes"] = nbytes
        report["files"] = nfiles
    return report


def _normalization(cols: dict, train: np.ndarray) -> dict:
    """Dataset-wide scaling constants from the training split (paper: max |value|).

    The Patterson scale is its largest origin peak (no Patterson value exceeds
    P(0) in magnitude), so only its maximum is recorded.
    """
    out = {}
    sel = train if train.any() else np.ones_like(train)
    source = "train" if train.any() else "all"
    mx = np.array(cols["density_max"], dtype=np.float64)[sel].max()
    mn = np.array(cols["density_min"], dtype=np.float64)[sel].min()
    out["density"] = {
        "max": float(mx),
        "min": float(mn),
        "scale": float(max(abs(mx), abs(mn))),
        "source_split": source,
    }
    pmax = float(np.array(cols["patterson_max"], dtype=np.float64)[sel].max())
    out["patterson"] = {"max": pmax, "scale": pmax, "source_split": source}
    return out


def _swap_into_place(tmp: str, out: str) -> None:
    old = out.rstrip("/") + ".old"
    shutil.rmtree(old, ignore_errors=True)
    if os.path.exists(out):
        os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)
