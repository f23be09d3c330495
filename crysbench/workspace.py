"""Where a build writes, and what it may delete: output checks, lock, work folders. (io)

A build never deletes or overwrites what crysbench did not make: ``--out`` must be
absent, empty, or a crysbench store (replaced only with ``--overwrite``); work
folders are subfolders that the build creates and marks; one exclusive lock per
output makes a second concurrent build fail at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import json
import os
import shutil
from pathlib import Path

import zarr

from crysbench.variants import Variant

__all__ = [
    "BuildError",
    "default_cache_dir",
    "default_out",
    "is_url",
    "is_store",
    "check_out",
    "build_lock",
    "work_folder",
    "remove_work",
    "swap_into_place",
    "temp_store",
    "open_files",
]

_WORK_MARK = ".crysbench-work"


class BuildError(RuntimeError):
    """A build that cannot go on (bad output location, no entries, ...)."""


def default_cache_dir() -> Path:
    """Root of crysbench's caches: ``$CRYSBENCH_CACHE``, else ``$XDG_CACHE_HOME/crysbench``,
    else ``~/.cache/crysbench`` (downloads in ``pdb/``, built entries in ``entries/``)."""
    if os.environ.get("CRYSBENCH_CACHE"):
        return Path(os.environ["CRYSBENCH_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "crysbench"


def is_url(path: str) -> bool:
    return "://" in str(path)


def default_out(variant: Variant) -> str:
    """Default store path: ``<name>.zarr`` in the current folder."""
    return f"{variant.name}.zarr"


def is_store(path: Path) -> bool:
    try:
        meta = json.loads((path / "zarr.json").read_text())
    except (OSError, ValueError):
        return False
    attrs = meta.get("attributes", {})
    return "crysbench_schema" in attrs or "layout" in attrs


def check_out(out: str, overwrite: bool) -> None:
    """Refuse to replace anything but a crysbench store (and that only with overwrite)."""
    if is_url(out):
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
    if not p.is_dir() or not is_store(p):
        raise BuildError(
            f"{out} exists and is not a crysbench store; refusing to replace it "
            "(choose another --out)"
        )
    if not overwrite:
        raise BuildError(f"{out} already holds a crysbench store; pass --overwrite to rebuild it")


@contextlib.contextmanager
def build_lock(path: Path):
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


def work_folder(base: Path, v: Variant) -> tuple[Path, bool]:
    """``base/<variant>/<recipe hash>``; marks ``base`` as crysbench's when it creates it."""
    created = not base.exists()
    base.mkdir(parents=True, exist_ok=True)
    if created:
        (base / _WORK_MARK).write_text("made by crysbench build; safe to delete\n")
    parts = base / v.key / v.recipe_hash
    parts.mkdir(parents=True, exist_ok=True)
    return parts, created


def remove_work(base: Path, parts: Path) -> None:
    """Delete only what the build made: the parts folder, then empty marked parents."""
    shutil.rmtree(parts, ignore_errors=True)
    with contextlib.suppress(OSError):
        parts.parent.rmdir()
    if (base / _WORK_MARK).is_file() and {p.name for p in base.iterdir()} == {_WORK_MARK}:
        (base / _WORK_MARK).unlink()
        with contextlib.suppress(OSError):
            base.rmdir()


def open_files() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:  # pragma: no cover - not Linux
        return -1


@functools.cache
def _libc():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def release_memory() -> bool:
    """Give the heap's free pages back to the OS (glibc ``malloc_trim``); False elsewhere.

    A build's coordinator decodes every entry's summary and sorts the plan; glibc keeps
    the pages those transient objects used resident, so without this the peak RSS
    grows with the number of examples decoded, not with what is alive.

    Examples
    --------
    >>> release_memory() in (True, False)
    True
    """
    libc = _libc()
    trim = getattr(libc, "malloc_trim", None) if libc is not None else None
    if trim is None:
        return False
    trim(0)
    return True


def peak_rss() -> int:
    """Peak resident memory of this process (bytes) since it started its program.

    Linux's ``VmHWM`` (reset by ``exec``); ``getrusage`` elsewhere. ``ru_maxrss`` alone
    would be wrong for a worker or a benchmark's child: Linux carries it across
    ``fork``/``exec``, so a child of a 300 MB parent reports at least 300 MB.

    Examples
    --------
    >>> peak_rss() > 0
    True
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def temp_store(out: str) -> str:
    """Where the store is written before it replaces ``out`` (cleared if it is ours)."""
    if is_url(out):
        return out
    tmp = out.rstrip("/") + ".tmp-build"
    if os.path.exists(tmp):
        if not is_store(Path(tmp)) and any(Path(tmp).iterdir()):
            raise BuildError(f"{tmp} exists and was not made by crysbench; move it away")
        shutil.rmtree(tmp)
    return tmp


def swap_into_place(tmp: str, out: str) -> None:
    old = out.rstrip("/") + ".old"
    shutil.rmtree(old, ignore_errors=True)
    if os.path.exists(out):
        os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)
