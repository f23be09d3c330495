"""Writing predicted maps into one container for ``crysbench evaluate``. (io)

:func:`write_predictions` writes ``{id: map}`` as a zarr group (maps of one grid shape
stacked into one sharded array, a few files per thousand examples) or an uncompressed
``.npz``; :mod:`crysbench.predictions` reads both back.

Examples
--------
>>> import numpy as np, os, tempfile, zarr
>>> path = os.path.join(tempfile.mkdtemp(), "p.zarr")
>>> _ = write_predictions(path, {"b": np.ones((2, 2, 2)), "a": np.zeros((2, 2, 3))})
>>> g = zarr.open_group(path, mode="r")
>>> g["id"][...].tolist(), g.attrs["format"]
(['a', 'b'], 'crysbench-predictions')
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FORMAT", "write_predictions"]

#: The ``format`` attribute of a predictions zarr group.
FORMAT = "crysbench-predictions"


def write_predictions(
    path: str | Path,
    maps: Mapping[str, np.ndarray],
    meta: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write predicted maps ``{id: map}`` into one container for ``crysbench evaluate``.

    Parameters
    ----------
    path : path
        ``*.npz`` for a NumPy zip (uncompressed), anything else for a zarr group in which
        maps of one grid shape are stacked into one sharded array (a few files per
        thousand examples).
    maps : mapping id → ndarray, shape=grid_shape
        Float maps in physical units (e/Å³), as the store's ``density``.
    meta : mapping, optional
        JSON-able fields kept with the maps; ``store_fingerprint`` is checked by the
        evaluator.
    overwrite : bool
        Replace an existing container written by this function.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    FileExistsError
        ``path`` exists (and ``overwrite`` is off, or it is not a predictions container).
    """
    path = Path(path)
    meta = dict(meta or {})
    if path.exists():
        ours = path.suffix == ".npz" or (path / "zarr.json").exists() and _is_ours(path)
        if not overwrite or not ours:
            raise FileExistsError(
                f"{path} exists" + ("" if ours else " and is not a predictions container")
            )
    arrays = {str(k): np.asarray(v, dtype=np.float32) for k, v in maps.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".npz":
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, **arrays)
        import zipfile

        with zipfile.ZipFile(tmp, "a") as z:  # meta as JSON, not a pickled object
            z.writestr("__meta__.json", json.dumps(meta))
        os.replace(tmp, path)
        return path
    _write_zarr(path, arrays, meta)
    return path


def _is_ours(path: Path) -> bool:
    try:
        return json.loads((path / "zarr.json").read_text())["attributes"]["format"] == FORMAT
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _write_zarr(path: Path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    import zarr

    ids = sorted(arrays)
    shapes = sorted({arrays[i].shape for i in ids})
    index = {s: n for n, s in enumerate(shapes)}
    group = zarr.open_group(str(path), mode="w")
    bucket = np.array([index[arrays[i].shape] for i in ids], dtype=np.int32)
    row = np.zeros(len(ids), dtype=np.int32)
    for n, shape in enumerate(shapes):
        members = [i for i in ids if arrays[i].shape == shape]
        row[bucket == n] = np.arange(len(members))
        stack = np.stack([arrays[i] for i in members])
        per_chunk = min(len(members), 16)  # a scoring task reads consecutive maps
        group.create_array(
            f"maps/{n}",
            data=stack,
            chunks=(per_chunk, *shape),
            shards=(per_chunk * min(16, -(-len(members) // per_chunk)), *shape),
            compressors=None,  # predicted maps hardly compress; decoding would cost more
        )
    group.create_array("id", shape=(len(ids),), dtype=str)[:] = np.array(ids, dtype=str)
    group.create_array("bucket", data=bucket)
    group.create_array("row", data=row)
    group.attrs.update({"format": FORMAT, "version": 1, "meta": meta})
