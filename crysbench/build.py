"""``crysbench build``: source → entries → examples → zarr store. (io)

This module only orchestrates; the work is in tasks that run anywhere (this
process, loky workers, a dask cluster — :mod:`crysbench.executors`):

1. *Entries* (:func:`crysbench.build_entry.process_entry`, one task per entry):
   read, curate, cut segments, make examples, and save them as one compressed part
   file in the cache (``~/.cache/crysbench/entries/<variant>/<recipe hash>/``), keyed
   on the input file's SHA-256. Cached entries are not redone: a killed build
   resumes, and a build with the entries of a new PDB release redoes only those.
2. *Plan* (here, from the tasks' compact summaries): order examples by (split, grid shape,
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
import resource
import time
from pathlib import Path

from crysbench.assemble import (
    attrs_report,
    block_task,
    finish_store,
    reason_category,
    write_block,
    write_splits,
)
from crysbench.build_entry import process_entry
from crysbench.executors import Executor, ExecutorError
from crysbench.plan import EntryResults, PlanColumns, entry_codes, entry_splits, plan_store
from crysbench.store import disk_usage
from crysbench.storewriter import StoreLayout, StoreWriter
from crysbench.variants import Variant, get_variant
from crysbench.workspace import (
    BuildError,
    build_lock,
    check_out,
    default_cache_dir,
    default_out,
    is_url,
    open_files,
    peak_rss,
    release_memory,
    remove_work,
    swap_into_place,
    temp_store,
    work_folder,
)

__all__ = ["build_store", "process_entry", "BuildError", "reason_category", "default_cache_dir"]

#: Largest block of example rows: the unit of parallel writing (bytes depend on it).
BLOCK = 8192


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
    """Build (or resume) a store and return its build report.

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
    progress : bool
        Progress bar on stderr.
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
    failed: dict[str, str] = {}  # downloads that failed after every retry
    if entries is None:
        from crysbench.sources import resolve_source

        kw = {"failed": failed} if source in ("rcsb", "paper") else {}
        entries = resolve_source(source, cache_dir=cache_root / "pdb", **kw)
    ids = sorted(entries)[:limit]
    if not ids:
        raise BuildError(f"source {source!r} has no entries")
    check_out(out, overwrite)
    lock = Path(out.rstrip("/") + ".lock") if not is_url(out) else cache_root / "locks"
    if is_url(out):
        lock = lock / (out.replace("://", "_").replace("/", "_") + ".lock")
    with build_lock(lock):
        ephemeral = no_cache or work_dir is not None
        base = Path(work_dir or out.rstrip("/") + ".partial") if ephemeral else cache_root
        if is_url(out) and ephemeral and work_dir is None:
            base = cache_root / "partial" / out.replace("://", "_").replace("/", "_")
        try:
            parts_dir, _ = work_folder(base if ephemeral else base / "entries", v)
        except OSError as exc:
            raise BuildError(f"cannot create work folder under {base}: {exc}") from None
        try:
            with Executor(jobs, backend, scheduler, progress) as ex:
                report = _build(v, ids, entries, parts_dir, out, ex, block, failed)
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
            remove_work(base, parts_dir)
    return report


def _build(
    v: Variant, ids, entries, parts_dir: Path, out: str, ex: Executor, block: int, failed: dict
) -> dict:
    res = {"rss": 0, "fds": open_files()}
    cpu = collections.Counter()

    def note(r: dict, stage: str) -> None:
        cpu[stage] += r["cpu"]
        res["rss"] = max(res["rss"], r["rss"])
        res["fds"] = max(res["fds"], r["fds"], open_files())

    t0 = time.perf_counter()
    tasks = [(str(entries[i]), i, v.key, str(parts_dir)) for i in ids]
    results = EntryResults(ids)
    entry_split = entry_splits(v, ids)  # decided once, by PDB id
    columns = PlanColumns(entry_codes(entry_split, ids))
    for k, r in enumerate(ex.map_unordered(process_entry, tasks, desc="entries", unit="entry")):
        note(r, "entries_cpu")
        columns.add(results.index(r["pdb_id"]), r.pop("examples"), r.pop("stats"))
        results.add(r)
        if k % 256 == 255:  # the decoded summaries are garbage now: keep RSS at what is alive
            release_memory()
    del tasks
    t_entries = time.perf_counter() - t0

    t0 = time.perf_counter()
    plan = plan_store(columns, ids, entry_split)
    release_memory()
    n = plan.n
    if n == 0:
        raise BuildError("no examples survived curation and filtering; nothing to store")
    rows = StoreLayout.block_rows(n, block)
    layout = StoreLayout.from_totals(n, rows, *plan.block_totals(rows))
    tmp = temp_store(out)
    writer = StoreWriter.create(tmp, layout)
    t_plan = time.perf_counter() - t0

    t0 = time.perf_counter()
    in_process = out.startswith("memory://")  # an in-memory store lives in this process only
    parts = results.parts
    # tasks made as the executor asks for them: only those in flight are in memory
    spec = layout.to_dict()
    block_tasks = ((tmp, spec, *block_task(plan, layout, b, parts)) for b in range(layout.blocks))
    test_lines: list = []
    runner = Executor(1) if in_process else ex
    for r in runner.map_unordered(
        write_block, block_tasks, desc="write", unit="block", total=layout.blocks
    ):
        note(r, "write_cpu")
        test_lines.append(r["test"])
    t_write = time.perf_counter() - t0

    t0 = time.perf_counter()
    downloads = [(pid, msg, "download") for pid, msg in sorted(failed.items())]
    plan.release_columns()  # only the keys (split, bucket, entry) are needed from here on
    release_memory()
    # the split id lists are read back from meta/id and written by a task too: the
    # coordinator never decodes the store's ids (Python strings, n of them)
    counts = plan.split_counts()
    for _ in runner.map_unordered(write_splits, [(tmp, spec, counts)], desc="splits"):
        pass
    report = finish_store(v, ids, results, plan, writer, test_lines, downloads, counts)
    t_finish = time.perf_counter() - t0
    report["time"].update(
        entries_wall=round(t_entries, 3),
        plan_wall=round(t_plan, 3),
        write_wall=round(t_write, 3),
        finish_wall=round(t_finish, 3),
        **{k: round(val, 3) for k, val in cpu.items()},  # CPU seconds summed over tasks
    )
    scratch = [Path(p) for p in parts]
    report["resources"] = {
        "peak_rss_main": peak_rss(),
        "peak_rss_worker": res["rss"],
        "open_files_max": res["fds"],
        "open_files_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        "scratch_bytes": sum(p.stat().st_size for p in scratch if p.is_file()),
        "scratch_files": len(scratch),
        "cached_entries": results.cached,
    }
    if not is_url(out):
        swap_into_place(tmp, out)
        nbytes, nfiles = disk_usage(out)
        report["bytes_per_example"] = round(nbytes / n, 1)
        report["files_per_1000"] = round(1000 * nfiles / n, 2)
        report["bytes"], report["files"] = nbytes, nfiles
        sb = report["resources"]["scratch_bytes"]
        report["resources"]["scratch_over_store"] = round(sb / max(nbytes, 1), 3)
    return report


def _paper_summary(out: str, report: dict, ids: list[str]) -> dict:
    """Reproduction of the paper's const-res example ids for the entries built."""
    import numpy as np
    import zarr

    from crysbench.rcsb import paper_pdb_ids, paper_reproduction

    entries = set(paper_pdb_ids()) & set(ids)
    meta = zarr.open_group(out, mode="r")["meta"]
    built: list[str] = []  # only the paper's entries' ids, read a chunk at a time
    step = meta["pdb_id"].chunks[0]
    wanted = np.array(sorted(entries)) if entries else np.zeros(0, dtype=str)
    for lo in range(0, meta["pdb_id"].shape[0], step) if entries else ():
        keep = np.isin(meta["pdb_id"][lo : lo + step], wanted)
        if keep.any():
            built += [str(i) for i in meta["id"][lo : lo + step][keep]]
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


def _write_report(out: str, report: dict) -> None:
    import zarr

    g = zarr.open_group(out, mode="r+")
    g.attrs.update({"report": attrs_report(report)})
