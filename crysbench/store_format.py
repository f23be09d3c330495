"""The on-disk format of a store: schema version, codes, codec, checksums (SPEC §4).

What every writer and reader of a store agrees on, decided here once:
:data:`SCHEMA_VERSION`, the split codes of ``meta/split``, the element names of
``atoms/element``, the :data:`CODEC`, the per-example :func:`example_checksum` (from which
the test fingerprint is made) and the sharded-array writer :func:`write_arrays`. Reading
is :mod:`crysbench.store`; everything here is importable from there too.

Examples
--------
>>> SPLIT_CODES["test"], SPLIT_NAMES[0], ELEMENT_NAMES[6]
(2, 'train', 'C')
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import gemmi
import numpy as np
import zarr

__all__ = [
    "CODEC",
    "ELEMENT_NAMES",
    "SCHEMA_VERSION",
    "SPLIT_CODES",
    "SPLIT_NAMES",
    "StoreError",
    "blosc_codec",
    "compressor",
    "disk_usage",
    "example_checksum",
    "write_arrays",
]


class StoreError(ValueError):
    """A store that is missing, incomplete, or built with another recipe."""


SCHEMA_VERSION = 3  # 3: blocks own whole shards (refl_start/n_refl); 2: one (R, 5) table

from crysbench.splits import SPLIT_CODES  # noqa: E402  (decided once, in splits)

SPLIT_NAMES = {v: k for k, v in SPLIT_CODES.items()}
ELEMENT_NAMES = {z: gemmi.Element(z).name for z in range(1, 100)}


#: The store's codec, decided here once: zstd level 1 with byte shuffle, through Blosc.
#: Level 1 encodes reflections 4.5x faster than level 3 for 10 % more bytes (0.63 vs
#: 0.57 of raw), which keeps compression below the assembly budget of 1 ms per example
#: (`python benchmarks/codecs.py`). The build's staging files have their own
#: (:data:`crysbench.staging.STAGING_CODEC`).
CODEC = {"cname": "zstd", "clevel": 1, "shuffle": "shuffle"}


def compressor() -> Any:
    """:data:`CODEC` as a zarr v3 codec.

    Returns
    -------
    zarr.codecs.BloscCodec
        The codec of every compressed store array.
    """
    return zarr.codecs.BloscCodec(**CODEC)


def blosc_codec(spec: dict | None = None, typesize: int = 4) -> Any:
    """A Blosc codec setting (default :data:`CODEC`) as a numcodecs codec for raw bytes.

    Parameters
    ----------
    spec : dict, optional
        ``cname``, ``clevel`` and ``shuffle`` (``"shuffle"`` or ``"noshuffle"``), as
        :data:`CODEC`; the staging files pass :data:`crysbench.staging.STAGING_CODEC`.
    typesize : int
        Word size the shuffle sees (4: the store's float32/int32 words).

    Returns
    -------
    numcodecs.Blosc
        The store's codec on raw bytes by default (the anchor of
        ``benchmarks/codecs.py``'s record figures).
    """
    import numcodecs

    c = CODEC if spec is None else spec
    shuffle = {"shuffle": numcodecs.Blosc.SHUFFLE, "noshuffle": numcodecs.Blosc.NOSHUFFLE}
    return numcodecs.Blosc(
        cname=c["cname"], clevel=c["clevel"], shuffle=shuffle[c["shuffle"]], typesize=typesize
    )


def example_checksum(hkl: np.ndarray, F: np.ndarray, grid_shape: tuple[int, ...]) -> str:
    """SHA-256 (first 16 hex) of an example's reflections and grid: fixes both maps.

    Parameters
    ----------
    hkl : numpy.ndarray, shape (n, 3)
        Miller indices (hashed as little-endian int16).
    F : numpy.ndarray, shape (n,)
        Structure factors (hashed as little-endian complex64).
    grid_shape : tuple of int
        The map grid.

    Returns
    -------
    str
        16 hexadecimal digits.

    Examples
    --------
    >>> import numpy as np
    >>> example_checksum(np.zeros((1, 3)), np.ones(1), (4, 4, 4))
    '378af1cd18293511'
    """
    h = hashlib.sha256()
    h.update(np.asarray(grid_shape, dtype="<i4").tobytes())
    h.update(np.ascontiguousarray(hkl, dtype="<i2").tobytes())
    h.update(np.ascontiguousarray(F, dtype="<c8").tobytes())
    return h.hexdigest()[:16]


def write_arrays(group: zarr.Group, name: str, data: np.ndarray, rows: int = 1 << 16) -> None:
    """Create one sharded, compressed array and fill it.

    Parameters
    ----------
    group : zarr.Group
        Where the array goes.
    name : str
        Its name in ``group``.
    data : numpy.ndarray
        The values; strings become a zarr string array.
    rows : int
        Rows per chunk (64 chunks per shard).
    """
    data = np.asarray(data)
    if data.dtype.kind in ("U", "O", "T"):
        arr = group.create_array(
            name, shape=data.shape, dtype=str, chunks=(max(1, min(len(data), 1 << 14)),)
        )
        if len(data):
            arr[:] = data.astype(str)
        return
    chunk = (max(1, min(rows, data.shape[0] or 1)),) + data.shape[1:]
    shard = (max(1, min(rows * 64, data.shape[0] or 1)),) + data.shape[1:]
    shard = (int(np.ceil(shard[0] / chunk[0]) * chunk[0]),) + shard[1:]
    arr = group.create_array(
        name,
        shape=data.shape,
        dtype=data.dtype,
        chunks=chunk,
        shards=shard,
        compressors=compressor(),
    )
    if data.size:
        arr[...] = data


def disk_usage(path: str) -> tuple[int, int]:
    """Bytes and number of files under a local folder.

    Parameters
    ----------
    path : str
        A local folder.

    Returns
    -------
    tuple of int
        ``(bytes, files)``.
    """
    nbytes = nfiles = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            nfiles += 1
            nbytes += os.path.getsize(os.path.join(dirpath, f))
    return nbytes, nfiles
