"""Predicted density maps keyed by example id: reading and checking them. (io)

Formats read by ``crysbench evaluate`` and ``crysbench submit``:

- a folder of ``<id>.npy`` (float, never pickled objects) or CCP4 maps (``<id>.ccp4``,
  ``<id>.map``), with an optional ``meta.json``;
- one container written by :func:`write_predictions` (:mod:`crysbench.prediction_writer`,
  importable from here too): a zarr group (maps stacked per grid shape, a few files per
  thousand examples) or an ``.npz`` file; a zarr group with one array per id is read too;
- an in-memory mapping id → array.

Every prediction can be described from its header alone (:meth:`Predictions.header`:
shape, dtype, CCP4 cell), so checking 38,000 predictions before scoring reads no maps;
a bad file is named with its id and the true cause (not a NumPy file, truncated, wrong
dtype) and raises :class:`EvaluationError`.

Examples
--------
>>> import numpy as np, tempfile, os
>>> from crysbench.predictions import load_predictions, write_predictions
>>> path = os.path.join(tempfile.mkdtemp(), "preds.zarr")
>>> _ = write_predictions(path, {"a": np.zeros((4, 4, 6), np.float32)}, meta={"seed": 1})
>>> p = load_predictions(path)
>>> list(p), p["a"].shape, p.header("a")["shape"], p.meta["seed"]
(['a'], (4, 4, 6), (4, 4, 6), 1)
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from crysbench.prediction_writer import FORMAT as _FORMAT
from crysbench.prediction_writer import write_predictions

__all__ = [
    "EvaluationError", "INPUT_FORMAT", "Predictions", "load_predictions", "write_predictions"
]  # fmt: skip

#: What an evaluator takes, in words (``str.format`` fields: name, split, n_ids, variant,
#: dmin, fingerprint); see :attr:`crysbench.Evaluator.expected_input_format`.
INPUT_FORMAT = """\
==== Expected input format of {name} ====
predictions: one of
  - a mapping {{example id (str): map}}, e.g. a dict of numpy arrays;
  - a folder of <id>.npy files (numpy.save, no pickled objects) or CCP4 maps
    <id>.ccp4 / <id>.map (mode 2), with an optional meta.json;
  - one container written by crysbench.write_predictions: a zarr group or an .npz file.
ids: exactly the ids of split {split!r}{n_ids} (allow_missing=True scores a subset;
  an id outside the split is an error).
each map: numpy.ndarray of real numbers (float32; other real dtypes are read as float32),
  shape = (nx, ny, nz), the example's grid_shape (store.meta["grid_shape"]; the P1 grid
  of its cell, variant {variant}: dmin {dmin} Å), density in e/Å³ like the store's
  `density`, every value finite (no NaN/inf). A CCP4 map's cell must be the example's.
meta (optional): {{"store_fingerprint": "{fingerprint}"}}; another fingerprint is an error.
"""

_SUFFIXES = (".npy", ".ccp4", ".map")


class EvaluationError(ValueError):
    """Invalid predictions; the message lists every problem with the ids concerned.

    Parameters
    ----------
    message : str
        Every problem, one per line.
    problems : dict, optional
        Kind of problem (``"unknown"``, ``"shape"``, ``"fingerprint"``, ...) → the ids or
        descriptions concerned; kept as :attr:`problems`.
    """

    def __init__(self, message: str, problems: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.problems = problems or {}


def _bad(key: str, msg: str) -> EvaluationError:
    return EvaluationError(f"prediction {key}: {msg}", {"unreadable": [key]})


# --------------------------------------------------------------------------- .npy files
def _array_header(f: Any) -> tuple[tuple, np.dtype]:
    """Shape and dtype of the .npy stream ``f`` (positioned at its start)."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(f)
    else:
        shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    return shape, dtype


def _npy_header(path: Path, key: str) -> dict:
    """Shape and dtype from a .npy header; checks the file holds all its data."""
    try:
        with open(path, "rb") as f:
            start = f.read(6)
            if start != b"\x93NUMPY":
                raise _bad(
                    key,
                    f"{path} is not a NumPy .npy file (it starts with {start!r}); "
                    "write predictions with numpy.save",
                )
            f.seek(0)
            shape, dtype = _array_header(f)
            offset = f.tell()
    except EvaluationError:
        raise
    except (OSError, ValueError, SyntaxError) as exc:
        raise _bad(key, f"{path} has an unreadable .npy header ({exc})") from None
    if dtype.hasobject:
        raise _bad(key, f"{path} holds Python objects ({dtype}); save a float array")
    need = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    size = path.stat().st_size
    if size < need:
        raise _bad(key, f"{path} is truncated: {size} bytes, its header needs {need}")
    return {"shape": tuple(int(n) for n in shape), "dtype": dtype, "cell": None}


def _read_npy(path: Path, key: str) -> np.ndarray:
    _npy_header(path, key)
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise _bad(key, f"cannot read {path}: {exc}") from None


# --------------------------------------------------------------------------- CCP4 maps
def _ccp4_header(path: Path, key: str) -> dict:
    """Full-cell grid (sampling), cell and completeness from a CCP4 header."""
    import gemmi

    try:
        h = gemmi.read_ccp4_header(str(path))
    except (RuntimeError, ValueError, OSError) as exc:
        raise _bad(key, f"{path} is not a readable CCP4 map ({exc})") from None
    n = [h.header_i32(i) for i in (1, 2, 3)]
    mode = h.header_i32(4)
    itemsize = {0: 1, 1: 2, 2: 4, 6: 2}.get(mode)
    if itemsize is None:
        raise _bad(key, f"{path} has CCP4 mode {mode}; write float32 maps (mode 2)")
    need = 1024 + h.header_i32(24) + int(np.prod(n, dtype=np.int64)) * itemsize
    size = path.stat().st_size
    if size < need:
        raise _bad(key, f"{path} is truncated: {size} bytes, its header needs {need}")
    sampling = tuple(int(h.header_i32(i)) for i in (8, 9, 10))
    cell = tuple(float(h.header_float(i)) for i in range(11, 17))
    return {"shape": sampling, "dtype": np.dtype(np.float32), "cell": cell}


def _read_ccp4(path: Path, key: str) -> np.ndarray:
    import gemmi

    _ccp4_header(path, key)
    try:
        m = gemmi.read_ccp4_map(str(path))
        m.setup(float("nan"))
    except (RuntimeError, ValueError, OSError) as exc:
        raise _bad(key, f"cannot read {path}: {exc}") from None
    return np.asarray(m.grid.array, dtype=np.float32)


# --------------------------------------------------------------------------- the mapping
class Predictions(Mapping):
    """Predicted maps keyed by example id, read lazily; picklable (workers reopen files).

    Attributes
    ----------
    source : str
        Where they come from (path or ``"<mapping>"``).
    meta : dict
        ``meta.json`` / container attributes (may be empty).
    kind : str
        ``"folder"``, ``"zarr"``, ``"npz"`` or ``"mapping"``.
    """

    def __init__(self, entries: dict[str, Any], meta: dict, source: str, kind: str):
        self._entries = entries
        self.meta = dict(meta)
        self.source = source
        self.kind = kind
        self._handle: Any = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_handle"] = None
        return state

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def subset(self, keys: list[str]) -> Predictions:
        """The same predictions restricted to ``keys`` (what one worker needs)."""
        out = Predictions({k: self._entries[k] for k in keys}, self.meta, self.source, self.kind)
        return out

    def _container(self) -> Any:
        if self._handle is None:
            if self.kind == "zarr":
                import zarr

                self._handle = zarr.open_group(self.source, mode="r")
            elif self.kind == "npz":
                self._handle = np.load(self.source, allow_pickle=False)
        return self._handle

    def header(self, key: str) -> dict:
        """``shape``, ``dtype`` and (CCP4) ``cell`` of a prediction, without reading it."""
        e = self._entries[key]
        if self.kind == "mapping":
            a = np.asarray(e)
            return {"shape": tuple(a.shape), "dtype": a.dtype, "cell": None}
        if self.kind == "folder":
            path = Path(e)
            return _npy_header(path, key) if path.suffix == ".npy" else _ccp4_header(path, key)
        if self.kind == "zarr":
            arr = self._container()[e[0]]
            shape = tuple(arr.shape[1:]) if e[1] is not None else tuple(arr.shape)
            return {"shape": shape, "dtype": np.dtype(arr.dtype), "cell": None}
        npz = self._container()
        with npz.zip.open(f"{e}.npy") as f:
            shape, dtype = _array_header(f)
        return {"shape": tuple(shape), "dtype": dtype, "cell": None}

    def __getitem__(self, key: str) -> np.ndarray:
        e = self._entries[key]
        if self.kind == "mapping":
            return np.asarray(e)
        if self.kind == "folder":
            path = Path(e)
            return _read_npy(path, key) if path.suffix == ".npy" else _read_ccp4(path, key)
        if self.kind == "zarr":
            arr = self._container()[e[0]]
            return np.asarray(arr[e[1]] if e[1] is not None else arr[...])
        try:
            return np.asarray(self._container()[e])
        except (OSError, ValueError) as exc:
            raise _bad(key, f"cannot read {e!r} from {self.source}: {exc}") from None

    def read_many(self, keys: list[str]) -> dict[str, np.ndarray]:
        """Several maps at once: one read per container array (zarr), else one per key.

        Keys that cannot be read this way are left out (read them one by one for the
        error naming their cause).
        """
        if self.kind != "zarr":
            return {}
        groups: dict[str, list[tuple[int, str]]] = {}
        for k in keys:
            name, row = self._entries[k]
            if row is not None:
                groups.setdefault(name, []).append((row, k))
        out: dict[str, np.ndarray] = {}
        for name, members in groups.items():
            members.sort()
            rows = [r for r, _ in members]
            try:
                arr = self._container()[name]
                if rows == list(range(rows[0], rows[-1] + 1)):
                    block = np.asarray(arr[rows[0] : rows[-1] + 1])
                else:
                    block = np.asarray(arr.oindex[np.asarray(rows)])
            except Exception:  # fall back to per-key reads with named errors
                continue
            out.update({k: block[i] for i, (_, k) in enumerate(members)})
        return out

    def stamp(self, key: str) -> str:
        """A cheap fingerprint of one prediction's bytes (size and mtime for files)."""
        e = self._entries[key]
        if self.kind == "mapping":
            a = np.ascontiguousarray(e)
            return f"crc32:{zlib.crc32(a.view(np.uint8).ravel()):08x}:{a.shape}"
        path = Path(e) if self.kind == "folder" else Path(self.source)
        try:
            st = path.stat()
        except OSError:
            return "missing"
        if path.is_dir():  # zarr group: its id column and the array holding this map
            sub = path / e[0] / "zarr.json"
            st = sub.stat() if sub.exists() else st
        return f"{st.st_size}:{st.st_mtime_ns}"


def _read_meta(path: Path) -> dict:
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise EvaluationError(f"cannot read {path}: {exc}") from None
    if not isinstance(meta, dict):
        raise EvaluationError(f"{path} must hold a JSON object")
    return meta


def _load_folder(path: Path) -> Predictions:
    meta = _read_meta(path / "meta.json") if (path / "meta.json").exists() else {}
    entries: dict[str, str] = {}
    dup: set[str] = set()
    with os.scandir(path) as it:
        names = sorted(e.name for e in it if e.is_file())
    for name in names:
        suf = next((s for s in _SUFFIXES if name.endswith(s)), None)
        if suf is None:
            continue
        key = name[: -len(suf)]
        if key in entries:
            dup.add(key)
            continue
        entries[key] = str(path / name)
    if dup:
        raise EvaluationError(
            f"ids given more than once (several formats): {', '.join(sorted(dup))}",
            {"duplicate": sorted(dup)},
        )
    if not entries:
        raise EvaluationError(f"no predictions (<id>.npy, .ccp4, .map) in {path}")
    return Predictions(entries, meta, str(path), "folder")


def _load_zarr(path: Path) -> Predictions:
    import zarr

    try:
        group = zarr.open_group(str(path), mode="r")
    except Exception as exc:  # zarr raises several types
        raise EvaluationError(f"cannot open zarr group {path}: {exc}") from None
    attrs = dict(group.attrs)
    entries: dict[str, Any] = {}
    if attrs.get("format") == _FORMAT:
        ids = group["id"][...].tolist()
        bucket = group["bucket"][...]
        row = group["row"][...]
        for i, b, r in zip(ids, bucket.tolist(), row.tolist()):
            entries[str(i)] = (f"maps/{b}", int(r))
        meta = dict(attrs.get("meta", {}))
    else:  # one array per id
        entries = {name: (name, None) for name, _ in group.arrays()}
        meta = attrs
    if not entries:
        raise EvaluationError(f"no arrays in zarr group {path}")
    return Predictions(entries, meta, str(path), "zarr")


def _load_npz(path: Path) -> Predictions:
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            meta = json.loads(z.read("__meta__.json")) if "__meta__.json" in names else {}
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        raise EvaluationError(f"{path} is not a readable .npz file ({exc})") from None
    entries = {n[:-4]: n[:-4] for n in names if n.endswith(".npy")}
    if not entries:
        raise EvaluationError(f"no arrays in {path}")
    return Predictions(entries, meta, str(path), "npz")


def load_predictions(path_or_mapping: str | Path | Mapping[str, Any]) -> Predictions:
    """Open predictions: a folder, a zarr group, an ``.npz`` file or a mapping id → array.

    Parameters
    ----------
    path_or_mapping : str, Path or mapping
        Where the predictions are (see :data:`INPUT_FORMAT`), or the maps themselves.

    Returns
    -------
    Predictions
        A lazy mapping id → map.

    Raises
    ------
    EvaluationError
        Path missing, unreadable, no predictions, or one id given twice in different formats.
    """
    if isinstance(path_or_mapping, Predictions):
        return path_or_mapping
    if isinstance(path_or_mapping, Mapping):
        meta = dict(getattr(path_or_mapping, "meta", {}) or {})
        return Predictions(dict(path_or_mapping), meta, "<mapping>", "mapping")
    path = Path(path_or_mapping)
    if not path.exists():
        raise EvaluationError(f"predictions not found: {path}")
    if path.is_dir() and (path / "zarr.json").exists() or path.suffix == ".zarr":
        return _load_zarr(path)
    if path.suffix == ".npz":
        return _load_npz(path)
    if not path.is_dir():
        raise EvaluationError(f"predictions must be a folder, a zarr group or .npz: {path}")
    return _load_folder(path)
