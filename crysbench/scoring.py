"""Running the evaluator over many examples: chunks, workers, clusters (SPEC §6).

:func:`score_all` scores a validated split, resuming from and appending to a row journal
(:mod:`crysbench.journal`); :func:`score_chunks` scores predictions in chunks of
consecutive store rows and yields each chunk's rows as it finishes (in any order), so the
caller can journal them and show progress. Backends:

``serial``
    In this process.
``loky``
    ``n_jobs`` worker processes on this machine; each reopens the store and the
    predictions from their paths (nothing large is pickled) and exits by itself within
    a second of its parent's death (even by SIGKILL), so no orphan keeps the caller's
    pipes open.
``dask``
    A dask cluster (``scheduler`` address, a ``distributed.Client``, or a local cluster
    of ``n_jobs`` processes); the store and predictions must be readable at the same
    paths or URLs from every worker.

With a crysbench :class:`~crysbench.store.Store`, an example is read once, by the worker
that scores it, with one reflections read per chunk; maps are synthesised exactly as
:attr:`crysbench.store.StoredExample.density` does. With another store-like object
(``ids``, ``get``) every example comes from ``store.get``.

Examples
--------
>>> from crysbench.scoring import chunked
>>> chunked(["a", "b", "c"], [0, 1, 5], 2)
[(['a', 'b'], [0, 1]), (['c'], [5])]
"""

from __future__ import annotations

import functools
import itertools
import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import gemmi
import numpy as np

from crysbench.predictions import EvaluationError, Predictions
from crysbench.validation import format_ids

__all__ = ["ChunkTask", "LightExample", "chunked", "score_all", "score_chunk", "score_chunks"]


@dataclass
class LightExample:
    """What the metrics need of a stored example: reflections, cell, grid (no atoms)."""

    id: str
    cell: gemmi.UnitCell
    dmin: float
    grid_shape: tuple[int, int, int]
    hkl: np.ndarray
    F: np.ndarray

    @functools.cached_property
    def density(self) -> np.ndarray:
        """True density (e/Å³), as :attr:`crysbench.store.StoredExample.density`."""
        from crysbench.maps import density_map

        return density_map(self.hkl, self.F, self.cell, self.grid_shape)


@dataclass
class ChunkTask:
    """One unit of work: ids (and store rows) with their predictions and settings."""

    store: Any  # a store path (crysbench Store) or a picklable store-like object
    keys: list[str]
    rows: list[int] | None
    predictions: Predictions
    edges: np.ndarray
    engine: Any
    origin_search: bool
    hand_search: bool


def chunked(
    keys: Sequence[str], rows: Sequence[int] | None, size: int
) -> list[tuple[list[str], list[int] | None]]:
    """Split ids (and their rows) into consecutive chunks of at most ``size``."""
    out = []
    for s in range(0, len(keys), size):
        out.append((list(keys[s : s + size]), None if rows is None else list(rows[s : s + size])))
    return out


_STORES: dict[str, Any] = {}


def _open(store: Any) -> Any:
    if not isinstance(store, str):
        return store
    if store not in _STORES:
        from crysbench.store import open_store

        _STORES[store] = open_store(store)
    return _STORES[store]


def _examples(task: ChunkTask) -> Iterator[Any]:
    store = _open(task.store)
    if task.rows is None or task.engine is not None:
        # refinement engines need atoms (elements); store-like objects give full examples
        for key, row in zip(task.keys, task.rows or [None] * len(task.keys)):
            yield store.get(int(row)) if row is not None else store.get(key)
        return
    rows = np.asarray(task.rows, dtype=np.int64)
    hkls, Fs = store.read_reflections(rows)
    meta = store.meta
    cells, dmins, shapes = meta["cell"][rows], meta["dmin"][rows], meta["grid_shape"][rows]
    for i, key in enumerate(task.keys):
        yield LightExample(
            id=key,
            cell=gemmi.UnitCell(*cells[i].tolist()),
            dmin=float(dmins[i]),
            grid_shape=tuple(int(x) for x in shapes[i]),
            hkl=hkls[i],
            F=Fs[i],
        )


def score_chunk(task: ChunkTask) -> list[tuple[str, dict | None, str | None, str | None]]:
    """Score one chunk: ``(id, row, problem kind, problem text)`` per example."""
    from crysbench.rows import evaluate_example

    out: list[tuple[str, dict | None, str | None, str | None]] = []
    maps = task.predictions.read_many(task.keys)
    for key, ex in zip(task.keys, _examples(task)):
        try:
            pred = np.asarray(maps[key] if key in maps else task.predictions[key], np.float32)
        except EvaluationError as exc:
            out.append((key, None, "unreadable", str(exc)))
            continue
        if not np.isfinite(pred).all():
            out.append((key, None, "nonfinite", key))
            continue
        row = evaluate_example(
            pred, ex, task.edges, task.engine, task.origin_search, task.hand_search
        )
        out.append((key, row, None, None))
    return out


# --------------------------------------------------------------------------- workers
def _watch_parent() -> None:
    """Worker initializer: exit when the parent process is gone (checked twice a second).

    The parent is the process that started this worker; when it dies (even by SIGKILL)
    the worker is re-parented and ``os.getppid()`` changes.
    """
    parent = os.getppid()

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True, name="crysbench-parent-watch").start()


def _loky(tasks: list[ChunkTask], n_jobs: int) -> Iterator[list]:
    from concurrent.futures import FIRST_COMPLETED, wait

    from joblib.externals.loky import get_reusable_executor

    ex = get_reusable_executor(max_workers=n_jobs, initializer=_watch_parent, reuse=True)
    pending: set = set()
    it = iter(tasks)
    try:
        while True:
            while len(pending) < 2 * n_jobs:  # bounded: memory does not grow with the split
                task = next(it, None)
                if task is None:
                    break
                pending.add(ex.submit(score_chunk, task))
            if not pending:
                return
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                yield f.result()
    except BaseException:
        for f in pending:
            f.cancel()
        ex.shutdown(wait=False, kill_workers=True)
        raise


def _dask(tasks: list[ChunkTask], n_jobs: int, scheduler: Any) -> Iterator[list]:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise RuntimeError("--backend dask needs `pip install crysbench[dask]`") from None
    own = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=max(1, n_jobs), threads_per_worker=1, dashboard_address=None
        )
        client = own = Client(cluster)
    elif isinstance(scheduler, str):
        client = own = Client(scheduler)
    else:
        client = scheduler
    try:
        window = max(4, 4 * sum(client.nthreads().values()))
        it = iter(tasks)
        first = [client.submit(score_chunk, t, pure=False) for t in itertools.islice(it, window)]
        queue = as_completed(first)
        for fut in queue:
            yield fut.result()
            nxt = next(it, None)
            if nxt is not None:
                queue.add(client.submit(score_chunk, nxt, pure=False))
    finally:
        if own is not None:
            cluster = getattr(own, "cluster", None)
            own.close()
            if scheduler is None and cluster is not None:
                cluster.close()


def score_chunks(
    tasks: list[ChunkTask],
    backend: str = "loky",
    n_jobs: int = 1,
    scheduler: Any = None,
) -> Iterator[list]:
    """Score tasks, yielding each chunk's result as it finishes (order not kept).

    Parameters
    ----------
    tasks : list of ChunkTask
    backend : {"loky", "dask", "serial"}
        ``loky`` with ``n_jobs == 1`` runs in this process.
    n_jobs : int
        Worker processes (loky; local dask cluster).
    scheduler : str or distributed.Client, optional
        Dask scheduler address or client (``backend="dask"``); a local cluster otherwise.
    """
    if backend == "dask":
        yield from _dask(tasks, n_jobs, scheduler)
    elif backend == "serial" or n_jobs <= 1 or len(tasks) <= 1:
        for t in tasks:
            yield score_chunk(t)
    elif backend == "loky":
        yield from _loky(tasks, n_jobs)
    else:
        raise ValueError(f"unknown backend {backend!r}; use loky or dask")


# --------------------------------------------------------------------------- a whole split
def score_all(
    store: Any,
    split: str,
    preds: Predictions,
    ids: list[str],
    edges: np.ndarray,
    refine_engine: Any,
    origin_search: bool,
    hand_search: bool,
    *,
    n_jobs: int = 1,
    progress: bool = False,
    journal: Any = None,
    header: dict | None = None,
    backend: str = "loky",
    scheduler: Any = None,
) -> list[dict]:
    """Score validated predictions of ``ids``: their rows, in the order of ``ids``.

    Parameters
    ----------
    store : Store-like
        The store (a crysbench Store is read in chunks of rows; workers reopen its path).
    split : str
        The split the ids belong to.
    preds : Predictions
        Checked already (:func:`crysbench.validation.validate`).
    ids : list of str
        The ids to score.
    edges : numpy.ndarray
        Shared shell edges (:func:`crysbench.rows.shell_edges`).
    refine_engine : engine or None
        None: no refinement verdict.
    origin_search, hand_search : bool
        Alignment before the phase errors.
    n_jobs : int
        Worker processes.
    progress : bool
        A progress bar on stderr.
    journal : path, optional
        Row journal (:class:`crysbench.journal.RowJournal`) with run ``header``: rows in it
        are not scored again, and every new row is appended.
    header : dict, optional
        What identifies the run, for the journal.
    backend : {"loky", "dask", "serial"}
        See :func:`score_chunks`.
    scheduler : str or distributed.Client, optional
        Dask scheduler.

    Returns
    -------
    list of dict
        One row per id.

    Raises
    ------
    EvaluationError
        Maps found unreadable or holding NaN/inf, listed together once the others are
        scored (and journalled).
    """
    from crysbench.journal import RowJournal

    log = RowJournal(journal, header) if journal else None
    stamps = {k: preds.stamp(k) for k in ids} if log else {}
    done: dict[str, dict] = {}
    if log:
        done = {k: log.done[k][1] for k in ids if k in log.done and log.done[k][0] == stamps[k]}
    todo = [k for k in ids if k not in done]
    fast = hasattr(store, "read_reflections") and hasattr(store, "meta")
    rows_of = None
    if fast and todo:
        pos = {k: int(r) for k, r in zip(store.ids(split), store.positions(split).tolist())}
        rows_of = [pos[k] for k in todo]
    if fast and str(store.path).startswith("memory://") and backend != "dask":
        n_jobs = 1  # an in-memory store exists in this process only
    ref = store.path if fast and (n_jobs > 1 or backend == "dask") else store
    size = _chunk_size(refine_engine, n_jobs, len(todo))
    tasks = [
        ChunkTask(
            ref,
            keys,
            rows,
            preds.subset(keys),
            edges,
            refine_engine,
            origin_search,
            hand_search,
        )  # fmt: skip
        for keys, rows in chunked(todo, rows_of, size)
    ]
    bar = _bar(len(ids), len(done), progress)
    problems: dict[str, list[str]] = {"nonfinite": [], "unreadable": []}
    try:
        for result in score_chunks(tasks, backend, n_jobs, scheduler):
            good = [(k, row) for k, row, _, _ in result if row is not None]
            for _k, _, kind, text in result:
                if kind is not None:
                    problems[kind].append(text)
            if log:
                log.append((k, stamps[k], row) for k, row in good)
            done.update(good)
            if bar is not None:
                bar.update(len(result))
    finally:
        if bar is not None:
            bar.close()
        if log:
            log.close()
    _raise_problems(problems, kept=log is not None)
    rows = [done[k] for k in ids]
    if log:  # every row as the journal holds it: a resumed run ends byte-identical
        rows = [log.done[k][1] for k in ids]
    return rows


def _chunk_size(engine: Any, n_jobs: int, n: int) -> int:
    if engine is not None:
        return 1  # refinement: seconds per example, journal every row
    return max(1, min(32, -(-n // max(1, 4 * n_jobs))))


def _raise_problems(problems: dict[str, list[str]], kept: bool) -> None:
    """One :class:`EvaluationError` for the maps found bad while scoring."""
    if not (problems["nonfinite"] or problems["unreadable"]):
        return
    lines = []
    if problems["unreadable"]:
        lines.append(f"{len(problems['unreadable'])} unreadable predictions: "
                     + "; ".join(problems["unreadable"][:5]))  # fmt: skip
    if problems["nonfinite"]:
        lines.append(f"{len(problems['nonfinite'])} predictions with NaN/inf: "
                     f"{format_ids(sorted(problems['nonfinite']))}")  # fmt: skip
    more = " (the other rows are kept: rerun to score the fixed ones)" if kept else ""
    raise EvaluationError(
        "invalid predictions:\n  " + "\n  ".join(lines) + more,
        {k: v for k, v in problems.items() if v},
    )


def _bar(total: int, initial: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc="evaluate", unit="ex", file=sys.stderr)
