"""``crysbench build``: source → entries → examples → zarr store. (io)

This module only orchestrates; the work is in tasks that run anywhere (this
process, loky workers, a dask cluster — :mod:`crysbench.executors`):

1. *Entries* (:func:`crysbench.build_entry.process_entry`, one task per entry):
   read, curate, cut segments, make examples, and save them as one compressed part
   file in the cache (``~/.cache/crysbench/entries/<variant>/<recipe hash>/``), keyed
   on the input file's SHA-256. Cached entries are not redone: a killed build
   resumes, and a build with the entries of a new PDB release redoes only those.
2. *Plan* (here, from the tasks' compact summaries): order examples by (grid shape,
   PDB id, entity, start), assign splits by PDB id, take normalisation constants
   from the training split, and lay the store out in blocks
   (:class:`crysbench.storewriter.StoreLayout`).
3. *Write* (one task per block of 8,192 examples): each block reads its examples
   from the parts and writes its own meta chunks and whole shards
   (:class:`crysbench.storewriter.StoreWriter`) into a temporary store.
4. *Finish*: split id lists, rejections, attributes, then the temporary store is
   renamed over ``--out`` — a finished store is never half-overwritten.

Memory is bounded by a block, open files by a constant, scratch space by the parts
(about the finished store's size). Output bytes depend only on the recipe and the
input files, not on the number of workers, the backend or interruptions.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import resource
import shutil
import time
from pathlib import Path

import gemmi
import numpy as np
import zarr

from crysbench._version import __version__
from crysbench.build_entry import process_entry
from crysbench.executors import Executor, ExecutorError
from crysbench.splits import assign_split, split_fingerprint
from crysbench.staging import PartFiles
from crysbench.store import SCHEMA_VERSION, disk_usage
from crysbench.storewriter import StoreLayout, StoreWriter
from crysbench.variants import Variant, get_variant

__all__ = ["build_store", "process_entry", "BuildError", "reason_category", "default_cache_dir"]

#: Example rows per block: the unit of parallel writing (fixed: bytes depend on it).
BLOCK = 8192
_SPLIT_CODES = {"train": 0, "valid": 1, "test": 2}
_WORK_MARK = ".crysbench-work"


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


def default_cache_dir() -> Path:
    """Root of crysbench's caches: ``$CRYSBENCH_CACHE``, else ``$XDG_CACHE_HOME/crysbench``,
    else ``~/.cache/crysbench`` (downloads in ``pdb/``, built entries in ``entries/``)."""
    if os.environ.get("CRYSBENCH_CACHE"):
        return Path(os.environ["CRYSBENCH_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "crysbench"


def _is_url(path: str) -> bool:
    return "://" in str(path)


def default_out(variant: Variant) -> str:
    """Default store path: ``<name>.zarr`` in the current folder."""
    return f"{variant.name}.zarr"


def _is_store(path: Path) -> bool:
    try:
        meta = json.loads((path / "zarr.json").read_text())
    except (OSError, ValueError):
        return False
    attrs = meta.get("attributes", {})
    return "crysbench_schema" in attrs or "layout" in attrs


def _check_out(out: str, overwrite: bool) -> None:
    """Refuse to replace anything but a crysbench store (and that only with overwrite)."""
    if _is_url(out):
        try:
            attrs = dict(zarr.open_group(out, mode="r").attrs)
        except Exception:  # nothing there yet
            return
        if "crysbench_schema" in attrs and not overwrite:
            raise BuildError(f"{out} already holds a crysbench store; pass --overwrite to rebuild")
        return
    p = Path(out)
    if not p.exists() or (p.is_dir() and not any(p.iterdir())):
        return
    if not p.is_dir() or not _is_store(p):
        raise BuildError(
            f"{out} exists and is not a crysbench store; refusing to replace it "
            "(choose another --out)"
        )
    if not overwrite:
        raise BuildError(f"{out} already holds a crysbench store; pass --overwrite to rebuild it")


@contextlib.contextmanager
def _lock(path: Path):
    """An exclusive lock (flock) held for the whole build; released even on SIGKILL."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    f = open(path, "a+")  # noqa: SIM115 - held for the duration
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        who = f.read().strip() or "another process"
        f.close()
        raise BuildError(
            f"another crysbench build ({who}) is writing {path.with_suffix('')}; "
            "wait for it to finish, or remove the stale lock file " + str(path)
        ) from None
    f.seek(0)
    f.truncate()
    f.write(f"pid {os.getpid()}")
    f.flush()
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        f.close()


def _work_folder(base: Path, v: Variant) -> tuple[Path, bool]:
    """``base/<variant>/<recipe hash>``; marks ``base`` as crysbench's when it creates it."""
    created = not base.exists()
    base.mkdir(parents=True, exist_ok=True)
    if created:
        (base / _WORK_MARK).write_text("made by crysbench build; safe to delete\n")
    parts = base / v.key / v.recipe_hash
    parts.mkdir(parents=True, exist_ok=True)
    return parts, created


def _remove_work(base: Path, parts: Path) -> None:
    """Delete only what the build made: the parts folder, then empty marked parents."""
    shutil.rmtree(parts, ignore_errors=True)
    with contextlib.suppress(OSError):
        parts.parent.rmdir()
    if (base / _WORK_MARK).is_file() and {p.name for p in base.iterdir()} == {_WORK_MARK}:
        (base / _WORK_MARK).unlink()
        with contextlib.suppress(OSError):
            base.rmdir()


def _open_files() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:  # pragma: no cover - not Linux
        return -1


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
    no_cache: bool = False,
    overwrite: bool = False,
    block: int = BLOCK,
) -> dict:
    """Build (or resume) a store; returns the build report.

    Parameters
    ----------
    variant : str
        ``"dipeptide"``, ``"const-res"``, ``"var-res"``, optionally ``@version``.
    source : str
        ``"bundled"``, ``"rcsb"``, ``"paper"`` or a local folder / PDB mirror.
    out : str, optional
        Local path or fsspec URL; default ``<variant>.zarr``. An existing crysbench
        store there is replaced only with ``overwrite``; anything else is refused.
    jobs : int
        Worker processes (loky), or the size of a local dask cluster.
    backend : {"loky", "dask"}
        ``dask`` runs every stage (entries and store writing) on the cluster.
    scheduler : str, optional
        Dask scheduler address (``tcp://host:8786``); a local cluster otherwise.
    limit : int, optional
        Use only the first N entries (sorted by PDB id); N ≥ 1.
    work_dir : str, optional
        Keep this build's per-entry results in ``work_dir`` instead of the cache and
        delete them (only them) after success.
    entries : dict, optional
        Explicit ``{pdb_id: path}`` instead of resolving ``source``.
    cache_dir : str, optional
        Root of the caches (default :func:`default_cache_dir`): downloads of the
        ``rcsb``/``paper`` sources in ``pdb/``, built entries in ``entries/``.
    no_cache : bool
        Do not keep built entries after the build (``<out>.partial`` while it runs).
    overwrite : bool
        Replace an existing crysbench store at ``out``.
    block : int
        Examples per block (fixed per store layout; tests use small blocks).

    Returns
    -------
    dict
        The build report (also saved in the store's attributes).

    Examples
    --------
    >>> import tempfile, crysbench
    >>> out = tempfile.mkdtemp() + "/d.zarr"
    >>> rep = crysbench.build_store("dipeptide", out=out, limit=2, progress=False, no_cache=True)
    >>> rep["n_examples"] > 0
    True
    """
    v = get_variant(variant)
    out = str(out or default_out(v))
    t_start = time.perf_counter()
    if limit is not None and limit < 1:
        raise BuildError(f"--limit must be at least 1, not {limit}")
    cache_root = Path(cache_dir) if cache_dir else default_cache_dir()
    if entries is None:
        from crysbench.sources import resolve_source

        entries = resolve_source(source, cache_dir=cache_root / "pdb")
    ids = sorted(entries)[:limit]
    if not ids:
        raise BuildError(f"source {source!r} has no entries")
    _check_out(out, overwrite)
    lock = Path(out.rstrip("/") + ".lock") if not _is_url(out) else cache_root / "locks"
    if _is_url(out):
        lock = lock / (out.replace("://", "_").replace("/", "_") + ".lock")
    with _lock(lock):
        ephemeral = no_cache or work_dir is not None
        base = Path(work_dir or out.rstrip("/") + ".partial") if ephemeral else cache_root
        if _is_url(out) and ephemeral and work_dir is None:
            base = cache_root / "partial" / out.replace("://", "_").replace("/", "_")
        try:
            parts_dir, _ = _work_folder(base if ephemeral else base / "entries", v)
        except OSError as exc:
            raise BuildError(f"cannot create work folder under {base}: {exc}") from None
        try:
            with Executor(jobs, backend, scheduler, progress) as ex:
                report = _build(v, ids, entries, parts_dir, out, ex, block)
        except ExecutorError as exc:
            raise BuildError(str(exc)) from None
        report["source"] = source
        if v.name == "const-res":
            report["paper"] = _paper_summary(out, report, ids)
        report["jobs"], report["backend"] = jobs, backend
        report["cache"] = None if ephemeral else str(parts_dir)
        report["time"]["total_wall"] = round(time.perf_counter() - t_start, 3)
        _write_report(out, report)
        if ephemeral:
            _remove_work(base, parts_dir)
    return report


def _build(v: Variant, ids, entries, parts_dir: Path, out: str, ex: Executor, block: int) -> dict:
    res = {"rss": 0, "fds": _open_files()}

    def note(r: dict) -> None:
        res["rss"] = max(res["rss"], r["rss"])
        res["fds"] = max(res["fds"], r["fds"], _open_files())

    t0 = time.perf_counter()
    tasks = [(str(entries[i]), i, v.key, str(parts_dir)) for i in ids]
    summaries = {}
    for r in ex.map_unordered(process_entry, tasks, desc="entries", unit="entry"):
        note(r)
        r["examples"] = _compact(r["examples"])
        summaries[r["pdb_id"]] = r
    t_entries = time.perf_counter() - t0

    t0 = time.perf_counter()
    plan = _plan(v, ids, summaries)
    n = plan["n"]
    if n == 0:
        raise BuildError("no examples survived curation and filtering; nothing to store")
    layout = StoreLayout.plan(plan["n_refl"], plan["n_atom"], block=block)
    tmp = out if _is_url(out) else out.rstrip("/") + ".tmp-build"
    if not _is_url(out) and os.path.exists(tmp):
        if not _is_store(Path(tmp)) and any(Path(tmp).iterdir()):
            raise BuildError(f"{tmp} exists and was not made by crysbench; move it away")
        shutil.rmtree(tmp)
    writer = StoreWriter.create(tmp, layout)
    t_plan = time.perf_counter() - t0

    t0 = time.perf_counter()
    in_process = out.startswith("memory://")  # an in-memory store lives in this process only
    parts = [summaries[i]["part"] for i in ids]
    block_tasks = [_block_task(plan, layout, b, parts) for b in range(layout.blocks)]
    test_lines: list[tuple[str, str]] = []
    runner = Executor(1) if in_process else ex
    for r in runner.map_unordered(
        write_block, [(tmp, layout.to_dict(), *t) for t in block_tasks], desc="write", unit="block"
    ):
        note(r)
        test_lines.extend(r["test"])
    t_write = time.perf_counter() - t0

    t0 = time.perf_counter()
    report = _finish(v, ids, summaries, plan, writer, test_lines)
    t_finish = time.perf_counter() - t0
    report["time"].update(
        entries_wall=round(t_entries, 3),
        plan_wall=round(t_plan, 3),
        write_wall=round(t_write, 3),
        finish_wall=round(t_finish, 3),
    )
    scratch = [Path(summaries[i]["part"]) for i in ids]
    report["resources"] = {
        "peak_rss_main": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "peak_rss_worker": res["rss"],
        "open_files_max": res["fds"],
        "open_files_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        "scratch_bytes": sum(p.stat().st_size for p in scratch if p.is_file()),
        "scratch_files": len(scratch),
        "cached_entries": sum(1 for i in ids if summaries[i]["cached"]),
    }
    if not _is_url(out):
        _swap_into_place(tmp, out)
        nbytes, nfiles = disk_usage(out)
        report["bytes_per_example"] = round(nbytes / n, 1)
        report["files_per_1000"] = round(1000 * nfiles / n, 2)
        report["bytes"], report["files"] = nbytes, nfiles
        sb = report["resources"]["scratch_bytes"]
        report["resources"]["scratch_over_store"] = round(sb / max(nbytes, 1), 3)
    return report


#: Per-example columns the coordinator keeps (about 50 bytes an example).
_PLAN_DTYPES = {
    "entity": np.int32,
    "start": np.int32,
    "n_refl": np.int32,
    "n_atom": np.int32,
    "offset": np.int64,
    "length": np.int32,
    "crc32": np.uint32,
    "grid_shape": np.int16,
    "density_max": np.float32,
    "density_min": np.float32,
    "patterson_max": np.float64,
}


def _compact(cols: dict) -> dict:
    m = len(cols.get("offset", []))
    out = {k: np.asarray(cols.get(k, []), dtype=dt) for k, dt in _PLAN_DTYPES.items()}
    out["grid_shape"] = out["grid_shape"].reshape(m, 3)
    return out


def _plan(v: Variant, ids: list[str], summaries: dict) -> dict:
    """Store order, splits and buckets from the compact per-entry summaries."""
    cols: dict[str, list] = collections.defaultdict(list)
    entry_split = {}
    for k, pid in enumerate(ids):
        exs = summaries[pid]["examples"]
        m = len(exs.get("offset", []))
        entry_split[pid] = assign_split(pid, v.split_key, v.test_fraction, v.valid_fraction)
        cols["entry"].append(np.full(m, k, dtype=np.int32))
        if not m:
            continue
        for name in _PLAN_DTYPES:
            cols[name].append(exs[name])
    if not cols["offset"]:
        return {"n": 0, "entry_split": entry_split}
    c = {k: np.concatenate(val) for k, val in cols.items()}
    shape = c["grid_shape"]
    order = np.lexsort((c["start"], c["entity"], c["entry"], shape[:, 2], shape[:, 1], shape[:, 0]))
    c = {k: val[order] for k, val in c.items()}
    codes = np.array([_SPLIT_CODES[entry_split[p]] for p in ids], dtype=np.int8)
    c["split"] = codes[c["entry"]]
    bucket_keys, bucket = np.unique(c["grid_shape"], axis=0, return_inverse=True)
    c["bucket"] = bucket.reshape(-1).astype(np.int32)
    c["bucket_keys"] = bucket_keys
    c["n"] = len(order)
    c["entry_split"] = entry_split
    return c


def _block_task(plan: dict, layout: StoreLayout, b: int, parts: list[str]) -> tuple:
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

    Returns the test split's ``(id, checksum)`` pairs of the block (for the
    fingerprint) and the worker's peak RSS and open files.
    """
    writer = StoreWriter(tmp, StoreLayout.from_dict(layout))
    test: list[tuple[str, str]] = []
    with PartFiles(max_open=32) as files:

        def records():
            for j in range(len(local)):
                off, length, crc = (int(x) for x in loc[j])
                rec = files.read(parts[local[j]], off, length, crc)
                if split[j] == _SPLIT_CODES["test"]:
                    test.append((rec["head"]["id"], rec["head"]["checksum"]))
                yield rec

        writer.write_block(b, records(), {"split": split, "bucket": bucket})
    return {
        "test": test,
        "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "fds": _open_files(),
    }


def _finish(v: Variant, ids, summaries, plan, writer: StoreWriter, test_lines) -> dict:
    """Split lists, rejections, normalisation, fingerprint and attributes."""
    import numcodecs

    counts = writer.write_id_lists({c: s for s, c in _SPLIT_CODES.items()})
    rejected = [tuple(r) for pid in ids for r in summaries[pid]["rejections"]]
    writer.write_table(
        "rejections",
        {name: [r[j] for r in rejected] for j, name in enumerate(("id", "reason", "stage"))},
    )
    fingerprint = split_fingerprint([t[0] for t in test_lines], [t[1] for t in test_lines])
    train = plan["split"] == _SPLIT_CODES["train"]
    bucket = plan["bucket"]
    buckets = [
        {
            "shape": [int(x) for x in key],
            "count": int((bucket == i).sum()),
            "train": int(((bucket == i) & train).sum()),
        }
        for i, key in enumerate(plan["bucket_keys"])
    ]
    timing: collections.Counter = collections.Counter()
    for pid in ids:
        timing.update(summaries[pid]["timing"])
    entry_split = plan["entry_split"]
    has = sorted(set(np.unique(plan["entry"]).tolist()))
    entries_by_split = collections.Counter(entry_split[ids[k]] for k in has)
    rej_counts = collections.Counter(reason_category(r[1]) for r in rejected)
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
            "gemmi": gemmi.__version__,
            "numpy": np.__version__,
            "zarr": zarr.__version__,
            "numcodecs": numcodecs.__version__,
        },
        "counts": counts,
        "entries": dict(entries_by_split),
        "fingerprint": fingerprint,
        "normalization": _normalization(plan, train),
        "buckets": buckets,
    }
    writer.finish({**attrs, "report": _attrs_report(report)})
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


def _normalization(plan: dict, train: np.ndarray) -> dict:
    """Dataset-wide scaling constants from the training split (paper: max |value|).

    The Patterson scale is its largest origin peak (no Patterson value exceeds
    P(0) in magnitude), so only its maximum is recorded.
    """
    sel = train if train.any() else np.ones_like(train)
    source = "train" if train.any() else "all"
    mx = float(plan["density_max"][sel].max())
    mn = float(plan["density_min"][sel].min())
    pmax = float(plan["patterson_max"][sel].max())
    return {
        "density": {"max": mx, "min": mn, "scale": max(abs(mx), abs(mn)), "source_split": source},
        "patterson": {"max": pmax, "scale": pmax, "source_split": source},
    }


def _swap_into_place(tmp: str, out: str) -> None:
    old = out.rstrip("/") + ".old"
    shutil.rmtree(old, ignore_errors=True)
    if os.path.exists(out):
        os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)
