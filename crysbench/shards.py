"""Whole shards of a zarr v3 sharded array, encoded as zarr encodes them. (io)

The build writes its ragged tables (reflections, atoms) in whole shards of 256
chunks. Through zarr-python, each inner chunk goes through the async codec pipeline
one task at a time, which costs about twice the direct encoding
(``python benchmarks/codecs.py``: 0.26 vs 0.10 CPU-s a 42 MB shard) and was
the largest part of the build's write stage. A shard of the layout the store uses —
``sharding_indexed`` with inner ``bytes`` (little-endian) + ``blosc`` and the index
``bytes`` + ``crc32c`` at the end — is simple to make directly: the chunks' Blosc
frames one after another in chunk order, then ``(offset, nbytes)`` as little-endian
uint64 for each chunk (all ones for a chunk equal to the fill value, which zarr does
not store), then the CRC-32C of that index. :class:`ShardEncoder` makes exactly
those bytes (tested byte for byte against zarr's own writer) and stores them through
the array's zarr store, so reading stays zarr's. An array of any other layout gets
no encoder (:meth:`ShardEncoder.for_array` returns ``None``) and is written by zarr.

Examples
--------
>>> import tempfile, numpy as np, zarr
>>> from crysbench.store import compressor
>>> arr = zarr.create_array(tempfile.mkdtemp() + "/a.zarr", shape=(100, 5), dtype="f4",
...                         chunks=(16, 5), shards=(64, 5), compressors=compressor())
>>> enc = ShardEncoder.for_array(arr)
>>> enc.write(0, np.ones((100, 5), np.float32))
>>> float(arr[99, 4])
1.0
"""

from __future__ import annotations

import json

import numpy as np

__all__ = ["ShardEncoder"]

_EMPTY = np.iinfo(np.uint64).max  # zarr's index entry of a chunk it does not store


class ShardEncoder:
    """Encodes and stores whole shards of one zarr v3 array (see the module docstring).

    Parameters
    ----------
    arr : zarr.Array
        The array; use :meth:`for_array`, which checks that its layout is the one
        this class reproduces.
    blosc : numcodecs.Blosc
        Its inner chunk codec.
    """

    def __init__(self, arr, blosc):
        self.arr, self.blosc = arr, blosc
        self.chunk = int(arr.chunks[0])
        self.shard = int(arr.shards[0])
        self.tail = tuple(int(s) for s in arr.shape[1:])
        self.dtype = np.dtype(arr.dtype).newbyteorder("<")

    @classmethod
    def for_array(cls, arr) -> ShardEncoder | None:
        """An encoder for ``arr``, or ``None`` when its codecs are not the store layout
        (then write it with zarr).

        Parameters
        ----------
        arr : zarr.Array

        Returns
        -------
        ShardEncoder or None
        """
        import numcodecs

        meta = arr.metadata
        if getattr(meta, "zarr_format", None) != 3 or not arr.shards or len(meta.codecs) != 1:
            return None
        if any(c != s for c, s in zip(arr.chunks[1:], arr.shape[1:], strict=True)):
            return None  # inner chunks must span the trailing axes (one chunk row per shard)
        if np.asarray(meta.fill_value).tobytes() != bytes(np.dtype(arr.dtype).itemsize):
            return None  # fill value must be all-zero bytes
        sharding = json.loads(json.dumps(meta.codecs[0].to_dict()))  # tuples as lists
        conf = sharding.get("configuration", {})
        inner = conf.get("codecs", [])
        index = conf.get("index_codecs", [])
        little = {"name": "bytes", "configuration": {"endian": "little"}}
        if (
            sharding.get("name") != "sharding_indexed"
            or conf.get("index_location") != "end"
            or len(inner) != 2
            or inner[0] not in (little, {"name": "bytes"})  # no endianness for 1-byte types
            or inner[1].get("name") != "blosc"
            or index != [little, {"name": "crc32c"}]
        ):
            return None
        b = inner[1]["configuration"]
        shuffle = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}[b["shuffle"]]
        blosc = numcodecs.Blosc(
            cname=b["cname"],
            clevel=b["clevel"],
            shuffle=shuffle,
            blocksize=b["blocksize"],
            typesize=b["typesize"],
        )
        return cls(arr, blosc)

    def encode(self, rows: np.ndarray) -> bytes | None:
        """The stored bytes of one shard holding ``rows`` from its start (``None``: every
        chunk equals the fill value, so zarr stores no shard).

        Parameters
        ----------
        rows : ndarray, shape=(m, *tail)
            At most one shard of rows; rows past them are the fill value (zero).

        Returns
        -------
        bytes or None
        """
        import google_crc32c

        rows = np.ascontiguousarray(rows, dtype=self.dtype).reshape((-1,) + self.tail)
        if len(rows) > self.shard:
            raise ValueError(f"{len(rows)} rows do not fit one shard of {self.shard}")
        n_chunks = self.shard // self.chunk
        index = np.full((n_chunks, 2), _EMPTY, dtype="<u8")
        frames, pos = [], 0
        for i in range(-(-len(rows) // self.chunk)):
            part = rows[i * self.chunk : (i + 1) * self.chunk]
            if len(part) < self.chunk:  # an edge chunk is stored whole, padded with zeros
                full = np.zeros((self.chunk,) + self.tail, dtype=self.dtype)
                full[: len(part)] = part
                part = full
            raw = part.reshape(-1).view(np.uint8)
            if not raw.any():
                continue  # equal to the fill value: zarr leaves it out
            frame = self.blosc.encode(raw)
            frames.append(frame)
            index[i] = (pos, len(frame))
            pos += len(frame)
        if not frames:
            return None
        table = index.tobytes()
        crc = np.uint32(google_crc32c.value(table)).astype("<u4").tobytes()
        return b"".join([*frames, table, crc])

    def write(self, start: int, rows: np.ndarray) -> None:
        """Store ``rows`` at array rows ``start …``: whole shards, the last one possibly
        partial (its remaining rows are the fill value; it must not hold other data).

        Parameters
        ----------
        start : int
            First row; a multiple of the shard length.
        rows : ndarray, shape=(m, *tail)
        """
        from zarr.core.buffer import default_buffer_prototype
        from zarr.core.sync import sync

        if start % self.shard:
            raise ValueError(f"row {start} does not start a shard of {self.shard} rows")
        if start + len(rows) > self.arr.shape[0]:
            raise ValueError(f"rows {start}…{start + len(rows)} exceed {self.arr.shape[0]}")
        store = self.arr.store
        proto = default_buffer_prototype()
        for lo in range(0, len(rows), self.shard):
            coords = (start + lo) // self.shard
            key = self.arr.metadata.encode_chunk_key((coords,) + (0,) * len(self.tail))
            key = f"{self.arr.path}/{key}" if self.arr.path else key
            blob = self.encode(rows[lo : lo + self.shard])
            if blob is None:
                sync(store.delete(key))
            else:
                sync(store.set(key, proto.buffer.from_bytes(blob)))
