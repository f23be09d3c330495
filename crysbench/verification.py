"""Verifying a whole store: every chunk on disk, every example, the fingerprint (SPEC §4).

``crysbench verify STORE`` and :meth:`crysbench.store.Store.verify`: the checks of
:mod:`crysbench.integrity` run over the whole store, streamed in blocks of consecutive
examples so memory stays bounded at any store size, plus

- **Chunks** (:func:`check_chunks`): arrays that can never hold a chunk of fill values
  must have every chunk on disk (zarr reads a missing chunk as zeros);
- **Fingerprint**: the one in ``zarr.json`` against the one recomputed from the test ids
  and checksums (:func:`crysbench.fingerprints.fingerprint_mismatch`).

Examples
--------
>>> import crysbench  # doctest: +SKIP
>>> verify_store(crysbench.open_store("const-res.zarr"))["problems"]  # doctest: +SKIP
[]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from crysbench.fingerprints import fingerprint_mismatch
from crysbench.integrity import (
    MAY_BE_EMPTY,
    IntegrityError,
    check_atoms,
    check_meta,
    check_rows,
    ids_text,
    recomputed_fingerprint,
    rows_error,
)

__all__ = ["check_chunks", "verify_store"]


def check_chunks(store: Any) -> list[str]:
    """Arrays with chunks missing on disk (only arrays that never hold a fill-value chunk)."""
    out = []

    def visit(group: Any, prefix: str) -> None:
        for name, arr in group.arrays():
            key = f"{prefix}{name}"
            if key in MAY_BE_EMPTY or key.startswith("rejections/") or arr.size == 0:
                continue
            try:
                have, want = int(arr.nchunks_initialized), int(arr.nchunks)
            except Exception as exc:
                out.append(f"{key}: cannot list its chunks ({type(exc).__name__}: {exc})")
                continue
            if have < want:
                out.append(f"{key}: {want - have} of {want} chunk(s) missing on disk")
        for name, sub in group.groups():
            visit(sub, f"{prefix}{name}/")

    visit(store.root, "")
    return out


def verify_store(
    store: Any, block: int = 512, progress: Callable[[int, int], None] | None = None
) -> dict:
    """Check every example, the metadata, the chunks and the fingerprint of a store.

    Reads the reflections and atoms in blocks of ``block`` consecutive examples, so memory
    stays bounded at any store size.

    Parameters
    ----------
    store : crysbench.store.Store
    block : int
        Examples per read.
    progress : callable, optional
        Called with (examples done, total) after every block.

    Returns
    -------
    dict
        ``n_examples``, ``fingerprint`` (stored), ``fingerprint_recomputed``, ``problems``
        (list of str, empty when the store is intact) and ``damaged`` (example ids).
    """
    problems = check_meta(store) + check_chunks(store)
    n = len(store.meta["id"])
    fp = str(store.attrs.get("fingerprint"))
    recomputed = None
    if not any(p.startswith(("meta/id", "meta/split", "meta/checksum")) for p in problems):
        recomputed = recomputed_fingerprint(store)
        problem = fingerprint_mismatch(
            fp, recomputed, store.attrs.get("variant"), "zarr.json",
            "its test ids and checksums", hint="edited store attributes",
        )  # fmt: skip
        if problem is not None:
            problems.append(problem)
    damaged: set[str] = set()
    layout_ok = not any("zarr.json" in p or "offsets" in p or "runs from" in p for p in problems)
    for start in range(0, n, block) if layout_ok else ():
        rows = np.arange(start, min(start + block, n))
        found = _check_block(store, rows)
        for p, ids in found:
            problems.append(p)
            damaged.update(ids)
        if progress is not None:
            progress(int(rows[-1]) + 1, n)
    return {
        "path": store.path,
        "n_examples": n,
        "fingerprint": fp,
        "fingerprint_recomputed": recomputed,
        "problems": problems,
        "damaged": sorted(damaged),
    }


def _check_block(store: Any, rows: np.ndarray) -> list[tuple[str, list[str]]]:
    """Problems of a block of consecutive rows: one read per table."""
    out: list[tuple[str, list[str]]] = []
    try:
        hkls, Fs, raw = store._read_refl(rows)
        bad = check_rows(store, rows, hkls, Fs, raw)
        if bad:
            exc = rows_error(store, "reflections", bad)
            out += [(p, exc.damaged) for p in exc.problems]
    except IntegrityError as exc:  # undecodable chunk
        out += [(p, exc.damaged) for p in exc.problems]
    start, count = store.meta["atom_start"], store.meta["n_atom"]
    a0, a1 = int(start[rows[0]]), int(start[rows[-1]] + count[rows[-1]])
    tables = {}
    for key in ("element", "name", "residue", "xyz"):
        try:
            tables[key] = store.root[f"atoms/{key}"][a0:a1]
        except Exception as exc:  # undecodable chunk
            ids = [str(store.meta["id"][r]) for r in rows]
            out.append((f"atoms/{key}: cannot be read for {ids_text(store, rows)} ({exc})", ids))
    if len(tables) < 4:
        return out
    for r in rows:
        lo = int(start[r]) - a0
        hi = lo + int(count[r])
        atoms = {k: v[lo:hi] for k, v in tables.items()}
        out += [(p, [str(store.meta["id"][r])]) for p in check_atoms(store, int(r), atoms)]
    return out
