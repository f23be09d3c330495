"""Integrity of a built store: checksums, metadata consistency, fingerprint (SPEC §4). (io)

A store is damaged when any of its files was deleted, truncated or edited after the build.
zarr reads a missing chunk as its fill value (zeros) without complaint, so nothing here
trusts a read: every check compares what was read with something the build fixed
independently.

- **Metadata** (:func:`check_meta`, in memory, O(n)): column lengths, shapes and dtypes
  against the layout; cells, grids, resolutions and offsets physically possible; ``id``
  consistent with ``pdb_id``/``entity``/``start``; ``bucket`` recomputed from
  ``grid_shape``; ``split`` codes against the ``splits/`` id lists; reflection and atom
  offsets ending at the lengths of their tables.
- **Fingerprint** (:func:`recomputed_fingerprint`): the test fingerprint recomputed from the
  test ids and their checksums, against the one in ``zarr.json``.
- **Examples** (:func:`check_rows`): each example's reflections against its stored
  ``checksum`` (SHA-256 of hkl, F and grid, see :func:`crysbench.store.example_checksum`),
  finite F and integral hkl; atoms with real elements, names and finite positions.

:meth:`crysbench.store.Store.get` and :meth:`~crysbench.store.Store.read_reflections`
run the metadata check once per opened store and the example checks on every read
(``verify=True``, the default); the whole-store scan (chunks on disk, every example in
blocks: ``crysbench verify STORE``) is :mod:`crysbench.verification`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from crysbench.store_format import StoreError

__all__ = [
    "IntegrityError",
    "check_meta",
    "check_rows",
    "check_atoms",
    "recomputed_fingerprint",
]

_HEX16 = re.compile(r"^[0-9a-f]{16}$")
#: Expected (trailing shape, dtype kind + size) of the ragged tables.
_TABLES = {
    "reflections": ((5,), "f4"),
    "atoms/element": ((), "u1"),
    "atoms/name": ((4,), "u1"),
    "atoms/residue": ((), "i2"),
    "atoms/xyz": ((3,), "f4"),
}
#: Arrays whose chunks may legitimately be all fill values (so may be absent on disk).
#: Arrays that may hold chunks of fill values (zeros), so may lack chunks on disk.
MAY_BE_EMPTY = {"meta/split", "meta/bucket", "meta/start", "meta/density_min"}
_MAX_LISTED = 8


class IntegrityError(StoreError):
    """A damaged store: the message names the arrays and examples.

    Attributes
    ----------
    path : str
    problems : list of str
        Every problem found, one line each.
    damaged : list of str
        Ids of the examples concerned (empty when the damage is not per example).
    """

    def __init__(self, path: str, problems: Sequence[str], damaged: Sequence[str] = ()):
        self.path = str(path)
        self.problems = list(problems)
        self.damaged = list(damaged)
        shown = "\n  ".join(self.problems[:_MAX_LISTED])
        more = len(self.problems) - _MAX_LISTED
        tail = f"\n  … and {more} more" if more > 0 else ""
        super().__init__(
            f"{path}: damaged store ({len(self.problems)} problem(s)); rebuild it or fetch it "
            f"again, `crysbench verify {path}` lists everything:\n  {shown}{tail}"
        )


def _strings(a: np.ndarray) -> np.ndarray:
    """A string column as a fixed-width ``str`` array (zarr returns NumPy StringDType)."""
    return np.array([str(x) for x in a.tolist()], dtype=str) if len(a) else np.array([], str)


def ids_text(store: Any, rows: np.ndarray | Sequence[int]) -> str:
    """The ids of some rows for a message: the first few, then how many more."""
    rows = np.asarray(rows)
    names = [str(store.meta["id"][r]) if r < len(store.meta["id"]) else f"row {r}" for r in rows]
    more = len(names) - _MAX_LISTED
    return ", ".join(names[:_MAX_LISTED]) + (f" and {more} more" if more > 0 else "")


def _bad_rows(store: Any, name: str, mask: np.ndarray, what: str) -> list[str]:
    rows = np.nonzero(~np.asarray(mask, dtype=bool))[0]
    if not len(rows):
        return []
    return [
        f"{name}: {what} for {len(rows)} example(s) ({ids_text(store, rows)}); "
        "a missing or damaged chunk"
    ]


def _array_layout(store: Any, n: int) -> list[str]:
    """Shapes and dtypes of the stored arrays against the layout of SPEC §4."""
    out: list[str] = []
    m = store.meta
    want = {
        "cell": ((n, 6), "f"), "grid_shape": ((n, 3), "i"), "refl_start": ((n,), "i"),
        "n_refl": ((n,), "i"), "atom_start": ((n,), "i"), "n_atom": ((n,), "i"),
        "dmin": ((n,), "f"), "rate": ((n,), "f"),
        "split": ((n,), "i"), "bucket": ((n,), "i"), "entity": ((n,), "i"),
        "start": ((n,), "i"), "density_max": ((n,), "f"), "density_min": ((n,), "f"),
        "patterson_max": ((n,), "f"),
    }  # fmt: skip
    for key in ("pdb_id", "chain", "sequence", "checksum"):
        want[key] = ((n,), "U")
    for key, (shape, kind) in want.items():
        if key not in m:
            out.append(f"meta/{key}: missing array")
            continue
        a = m[key]
        ok_kind = a.dtype.kind in ("UTO" if kind == "U" else kind + "u")
        if a.shape != shape or not ok_kind:
            out.append(
                f"meta/{key}: shape {a.shape} dtype {a.dtype}, the layout has {shape} "
                f"({'string' if kind == 'U' else kind}); edited zarr.json?"
            )
    for name, (tail, dt) in _TABLES.items():
        try:
            arr = store.root[name]
        except KeyError:
            out.append(f"{name}: missing array")
            continue
        if tuple(arr.shape[1:]) != tail or np.dtype(arr.dtype) != np.dtype(dt):
            out.append(
                f"{name}: shape {arr.shape} dtype {arr.dtype}, the layout has (N, "
                f"{', '.join(map(str, tail))}) {np.dtype(dt)}; edited zarr.json?"
            )
    return out


def check_meta(store: Any) -> list[str]:
    """Problems with the metadata columns of a store (empty when consistent).

    Parameters
    ----------
    store : crysbench.store.Store

    Returns
    -------
    list of str
        One line per problem, naming the array and up to eight example ids.
    """
    m = store.meta
    if "id" not in m:
        return ["meta/id: missing array"]
    n = len(m["id"])
    out = _array_layout(store, n)
    if out:
        return out
    ids = _strings(m["id"])
    from crysbench.names import is_safe_id

    safe = np.array([is_safe_id(i) for i in ids.tolist()], dtype=bool)
    out += _bad_rows(store, "meta/id", safe, "empty id, or not a safe file name")
    expect = [
        f"{p}_{e}.pd_{s}"
        for p, e, s in zip(m["pdb_id"].tolist(), m["entity"].tolist(), m["start"].tolist())
    ]
    out += _bad_rows(
        store, "meta/pdb_id, entity, start", ids == np.array(expect, dtype=str),
        "id not PDB_ENTITY.pd_N",
    )  # fmt: skip
    cell = m["cell"]
    ok = np.isfinite(cell).all(1) & (cell[:, :3] > 0).all(1)
    ok &= (cell[:, 3:] > 0).all(1) & (cell[:, 3:] < 180).all(1)
    out += _bad_rows(store, "meta/cell", ok, "impossible cell")
    out += _bad_rows(store, "meta/grid_shape", (m["grid_shape"] > 0).all(1), "grid size 0")
    for key in ("dmin", "rate", "density_max", "patterson_max"):
        v = m[key]
        out += _bad_rows(store, f"meta/{key}", np.isfinite(v) & (v > 0), f"{key} not > 0")
    v = m["density_min"]
    out += _bad_rows(store, "meta/density_min", np.isfinite(v), "non-finite value")
    out += _bad_rows(store, "meta/entity", m["entity"] >= 1, "entity < 1")
    good = np.array([bool(_HEX16.match(c)) for c in m["checksum"].tolist()], dtype=bool)
    out += _bad_rows(store, "meta/checksum", good, "not a 16-digit hex checksum")
    shapes = [tuple(s) for s in m["grid_shape"].tolist()]
    order = {b: i for i, b in enumerate(sorted(set(shapes)))}
    bucket = np.array([order[s] for s in shapes], dtype=np.int64)
    out += _bad_rows(store, "meta/bucket", m["bucket"] == bucket, "bucket is not its grid's")
    out += _split_problems(store, ids)
    for key, size, table in (
        ("refl_start", "n_refl", "reflections"),
        ("atom_start", "n_atom", "atoms/element"),
    ):
        start, count = m[key].astype(np.int64), m[size].astype(np.int64)
        out += _bad_rows(store, f"meta/{size}", count > 0, "no rows")
        # rows of consecutive examples never overlap (blocks may leave gaps between them)
        ok = np.ones(len(start), dtype=bool)
        ok[1:] = start[1:] >= start[:-1] + count[:-1]
        out += _bad_rows(store, f"meta/{key}", ok, "row ranges not increasing")
        length = int(store.root[table].shape[0])
        if len(start) and (start.min() < 0 or int((start + count).max()) > length):
            out.append(
                f"meta/{key}: rows run to {int((start + count).max())} but {table} holds "
                f"{length} rows (a missing chunk or an edited zarr.json shape)"
            )
    for key in ("xyz", "name", "residue"):
        length = int(store.root[f"atoms/{key}"].shape[0])
        if length != int(store.root["atoms/element"].shape[0]):
            out.append(f"atoms/{key}: {length} rows, atoms/element has another count")
    return out


def _split_problems(store: Any, ids: np.ndarray) -> list[str]:
    codes = store.meta["split"]
    out = _bad_rows(store, "meta/split", np.isin(codes, [0, 1, 2]), "split code not 0/1/2")
    try:
        group = store.root["splits"]
    except KeyError:
        return out + ["splits: missing group"]
    for code, name in enumerate(("train", "valid", "test")):
        try:
            listed = {str(x) for x in group[name][...].tolist()}
        except Exception as exc:  # missing array or unreadable chunk
            out.append(f"splits/{name}: cannot be read ({type(exc).__name__}: {exc})")
            continue
        mine = set(ids[codes == code].tolist())
        if listed != mine:
            diff = sorted(listed ^ mine)
            out.append(
                f"meta/split, splits/{name}: {len(diff)} example(s) differ between the split "
                f"codes and the id list ({', '.join(diff[:_MAX_LISTED])})"
            )
    return out


def recomputed_fingerprint(store: Any) -> str:
    """The test fingerprint recomputed from the test ids and their stored checksums."""
    from crysbench.splits import split_fingerprint

    test = np.asarray(store.meta["split"]) == 2
    ids = [str(x) for x in store.meta["id"][test].tolist()]
    return split_fingerprint(ids, [str(x) for x in store.meta["checksum"][test].tolist()])


def check_rows(
    store: Any, rows: np.ndarray, hkls: Sequence[np.ndarray], Fs: Sequence[np.ndarray],
    raw_hkl: Sequence[np.ndarray] | None = None,
) -> dict[str, list[int]]:  # fmt: skip
    """Rows whose reflections, just read, are damaged, by reason (empty when all intact).

    Parameters
    ----------
    store : crysbench.store.Store
    rows : ndarray, shape=(b,), dtype=int
    hkls, Fs : sequences of ndarray
        hkl (int16) and F (complex64) of each row, as read.
    raw_hkl : sequence of ndarray, optional
        The float32 hkl columns before the cast (checked to be integers).

    Returns
    -------
    dict
        ``{reason: [row, …]}``: checksum mismatch, NaN/inf F, non-integer hkl, none read.
    """
    from crysbench.store_format import example_checksum

    m = store.meta
    bad: dict[str, list[int]] = {}
    for j, r in enumerate(np.asarray(rows)):
        shape = tuple(int(x) for x in m["grid_shape"][r])
        if len(Fs[j]) == 0:
            bad.setdefault("no reflections", []).append(int(r))
        elif not np.isfinite(Fs[j]).all():
            bad.setdefault("NaN/inf structure factors", []).append(int(r))
        elif raw_hkl is not None and not np.array_equal(raw_hkl[j], np.round(raw_hkl[j])):
            bad.setdefault("non-integer Miller indices", []).append(int(r))
        elif example_checksum(hkls[j], Fs[j], shape) != str(m["checksum"][r]):
            bad.setdefault("checksum mismatch", []).append(int(r))
    return bad


def rows_error(store: Any, array: str, bad: dict[str, list[int]]) -> IntegrityError:
    """An :class:`IntegrityError` naming ``array`` and the rows of :func:`check_rows`."""
    lines = [
        f"{array}: {why} for {len(rs)} example(s) ({ids_text(store, rs)}); "
        "damaged, edited or missing chunk"
        for why, rs in bad.items()
    ]
    rows = sorted({r for rs in bad.values() for r in rs})
    return IntegrityError(store.path, lines, [str(store.meta["id"][r]) for r in rows])


def check_atoms(store: Any, row: int, atoms: dict[str, np.ndarray]) -> list[str]:
    """Problems of one example's atoms as read (raw ``element`` numbers, names, xyz)."""
    out = []
    z, names = atoms["element"], atoms["name"]
    seq = len(str(store.meta["sequence"][row]))
    eid = str(store.meta["id"][row])
    if len(z) == 0:
        out.append("no atoms")
    if not ((z >= 1) & (z < 100)).all():
        out.append("element number outside 1-99")
    if len(names) and not (names[:, 0] > 0).all():
        out.append("empty atom name")
    res = atoms["residue"]
    if not ((res >= 0) & (res < seq)).all():
        out.append("residue index outside the sequence")
    xyz = atoms["xyz"]
    if not np.isfinite(xyz).all():
        out.append("NaN/inf coordinates")
    elif len(xyz) > 1 and not (xyz.std(0) > 0).any():
        out.append("all atoms at one point")
    return [f"atoms: {why} for example {eid}" for why in out]
