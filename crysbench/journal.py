"""Resumable evaluations: an append-only row journal and an exclusive output lock. (io)

``crysbench evaluate --out results.json`` keeps ``results.json.lock`` (an ``flock``-ed
file, released by the kernel when the process dies, even by SIGKILL) and appends every
finished row to ``results.json.partial.jsonl``. A rerun of the same command reads the
journal back, skips the rows already scored and ends with the same ``results.json``.

The journal's first line is a header naming the run (store fingerprint, split,
predictions, engine and settings); a journal of another run is refused rather than
mixed in. A torn last line (the process killed mid-write) is dropped.

Examples
--------
>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "r.jsonl")
>>> with RowJournal(path, {"run": 1}) as j:
...     j.append([("a", "s1", {"id": "a", "x": 0.5})])
>>> RowJournal(path, {"run": 1}).done
{'a': ('s1', {'id': 'a', 'x': 0.5})}
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["LockedError", "OutputLock", "RowJournal", "JournalError", "run_header"]


class LockedError(RuntimeError):
    """Another live process holds the lock."""


class JournalError(ValueError):
    """A journal that belongs to another run, or is not a journal."""


class OutputLock:
    """Exclusive lock on an output path, held while the object is open.

    Parameters
    ----------
    path : path
        The lock file (created if needed; removed on release).
    what : str
        Words for the error message, e.g. ``"crysbench evaluate"``.
    """

    def __init__(self, path: str | Path, what: str = "crysbench"):
        self.path = Path(path)
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> OutputLock:
        """Take the lock or raise :class:`LockedError` at once (never waits)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "?"
            finally:
                os.close(fd)
            raise LockedError(
                f"another {self.what} ({holder}) is writing {self.path.with_suffix('')}; "
                "wait for it to finish (the lock is released when it exits)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Remove the lock file and release the lock."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


class RowJournal:
    """Append-only JSON-lines file of finished rows ``(id, stamp, row)``.

    Parameters
    ----------
    path : path
        The journal file; read back if it exists.
    header : dict
        What identifies the run; must equal the header of an existing journal.

    Attributes
    ----------
    done : dict
        id → (stamp, row) of every row already in the journal.
    """

    def __init__(self, path: str | Path, header: dict):
        self.path = Path(path)
        self.header = json.loads(json.dumps(header))
        self.done: dict[str, tuple[str, dict]] = {}
        self._f: Any = None
        if self.path.exists():
            self._read()

    def _read(self) -> None:
        data = self.path.read_bytes()
        good = data.rfind(b"\n") + 1  # a torn last line (killed mid-write) is dropped
        lines = data[:good].splitlines()
        if not lines:
            return
        try:
            head = json.loads(lines[0])
        except ValueError:
            head = None
        if not isinstance(head, dict) or "crysbench_journal" not in head:
            raise JournalError(f"{self.path} is not a crysbench evaluation journal")
        if head.get("run") != self.header:
            diff = sorted(
                k
                for k in set(self.header) | set(head.get("run") or {})
                if (head.get("run") or {}).get(k) != self.header.get(k)
            )
            raise JournalError(
                f"{self.path} holds rows of another evaluation (differs in: "
                f"{', '.join(diff)}); delete it to start again, or choose another --out"
            )
        for line in lines[1:]:
            rec = json.loads(line)
            self.done[rec["id"]] = (rec["stamp"], rec["row"])
        if good != len(data):
            with open(self.path, "r+b") as f:
                f.truncate(good)

    def _open(self) -> None:
        if self._f is None:
            new = not self.path.exists() or self.path.stat().st_size == 0
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._f = open(self.path, "a", encoding="utf-8")
            if new:
                self._f.write(json.dumps({"crysbench_journal": 1, "run": self.header}) + "\n")

    def append(self, records: Iterable[tuple[str, str, dict]]) -> None:
        """Append rows and flush them to disk."""
        self._open()
        lines = [
            json.dumps({"id": i, "stamp": s, "row": r}, allow_nan=False) + "\n"
            for i, s, r in records
        ]
        self._f.write("".join(lines))
        self._f.flush()
        os.fsync(self._f.fileno())
        for line in lines:
            rec = json.loads(line)
            self.done[rec["id"]] = (rec["stamp"], rec["row"])

    def close(self) -> None:
        """Close the file (rows stay on disk)."""
        if self._f is not None:
            self._f.close()
            self._f = None

    def remove(self) -> None:
        """Close and delete the journal (after the results are written)."""
        self.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> RowJournal:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def run_header(preds: Any, store: Any, split: str, engine: str, settings: dict) -> dict:
    """What identifies one evaluation, for the first line of its journal.

    Parameters
    ----------
    preds : crysbench.predictions.Predictions
        The predictions (their source path, made absolute; ``"<mapping>"`` in memory).
    store : Store-like
        Its variant and test fingerprint.
    split : str
        The split scored.
    engine : str
        The refinement engine's name.
    settings : dict
        The scoring settings (engine settings, alignment, shells).

    Returns
    -------
    dict
        ``crysbench_version``, ``variant``, ``store_fingerprint``, ``split``,
        ``predictions``, ``engine``, ``settings``.
    """
    from crysbench._version import __version__

    source = preds.source if preds.kind == "mapping" else os.path.abspath(preds.source)
    return {
        "crysbench_version": __version__,
        "variant": str(getattr(store, "variant", "")),
        "store_fingerprint": getattr(store, "fingerprint", None),
        "split": split,
        "predictions": source,
        "engine": engine,
        "settings": settings,
    }
