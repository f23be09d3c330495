"""Where the tasks of a build run: this process, loky workers, or a dask cluster. (io)

Every stage of a build is a list of independent, idempotent tasks (an entry, a
block of the store); an :class:`Executor` runs them and yields results as they
finish. On dask, a task whose worker dies is rerun elsewhere by the scheduler
(tasks are idempotent, so a rerun writes the same bytes).

Examples
--------
>>> with Executor(jobs=1) as ex:
...     sorted(ex.map_unordered(pow, [(2, 3), (3, 2)]))
[8, 9]
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterable, Iterator, Sized

__all__ = ["Executor", "ExecutorError"]


class ExecutorError(RuntimeError):
    """A backend that cannot be used (missing package, unreachable scheduler)."""


class Executor:
    """Runs tasks serially, on loky worker processes, or on a dask cluster.

    Parameters
    ----------
    jobs : int
        Worker processes (loky; also the size of a local dask cluster).
    backend : {"loky", "dask"}
    scheduler : str, optional
        Address of a running dask scheduler (``tcp://host:8786``); without it, the
        dask backend starts a ``LocalCluster`` of ``jobs`` worker processes.
    progress : bool
        Show a tqdm bar per stage on stderr.
    """

    def __init__(
        self,
        jobs: int = 1,
        backend: str = "loky",
        scheduler: str | None = None,
        progress: bool = False,
    ):
        if backend not in ("loky", "dask"):
            raise ExecutorError(f"unknown backend {backend!r}; use loky or dask")
        self.jobs, self.backend, self.progress = max(1, int(jobs)), backend, progress
        self.client = self._cluster = None
        if backend == "dask":
            try:
                from dask.distributed import Client, LocalCluster
            except ImportError:
                raise ExecutorError("--backend dask needs `pip install crysbench[dask]`") from None
            try:
                if scheduler:
                    self.client = Client(scheduler, timeout="30s")
                else:
                    self._cluster = LocalCluster(
                        n_workers=self.jobs,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=None,
                    )
                    self.client = Client(self._cluster)
            except OSError as exc:
                raise ExecutorError(f"cannot reach dask scheduler {scheduler}: {exc}") from None

    def map_unordered(
        self,
        fn: Callable,
        tasks: Iterable[tuple],
        desc: str = "",
        unit: str = "task",
        total: int | None = None,
    ) -> Iterator:
        """Results of ``fn(*t)`` for every task, in the order they finish.

        ``tasks`` may be a generator: it is drawn from as workers free up (at most a
        few tasks a worker in flight), so the coordinator never holds all task
        arguments at once. ``total`` sizes the progress bar when it has no length.
        """
        from tqdm.auto import tqdm

        if total is None and isinstance(tasks, Sized):
            total = len(tasks)
        bar = tqdm(total=total, desc=desc, unit=unit, disable=not self.progress, file=sys.stderr)
        try:
            for r in self._run(fn, tasks):
                bar.update()
                yield r
        finally:
            bar.close()

    def _run(self, fn: Callable, tasks: Iterable[tuple]) -> Iterator:
        if self.client is not None:
            yield from self._run_dask(fn, iter(tasks))
        elif self.jobs == 1:
            for t in tasks:
                yield fn(*t)
        else:
            from joblib import Parallel, delayed

            # one task a batch: joblib's automatic batching groups hundreds of quick
            # (cached) entry tasks, and their results then arrive and wait in the
            # coordinator together (a part of its peak that grows with the build)
            par = Parallel(
                n_jobs=self.jobs, backend="loky", return_as="generator_unordered", batch_size=1
            )
            yield from par(delayed(fn)(*t) for t in tasks)

    def _run_dask(self, fn: Callable, tasks: Iterator[tuple]) -> Iterator:
        from dask.distributed import as_completed

        workers = len(self.client.scheduler_info().get("workers", {})) or self.jobs
        window = 4 * max(workers, self.jobs, 1)  # in flight: enough to keep every worker busy
        done = as_completed()
        live: set = set()

        def submit(k: int) -> None:
            for t in itertools.islice(tasks, k):
                fut = self.client.submit(fn, *t, pure=False, retries=3)
                live.add(fut)
                done.add(fut)

        submit(window)
        try:
            for fut in done:
                live.discard(fut)
                result = fut.result()
                fut.release()
                submit(1)
                yield result
        finally:
            for fut in live:
                fut.cancel()

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()
        self.client = self._cluster = None

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
