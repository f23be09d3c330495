"""The one writer of the store layout (SPEC §4; schema in :mod:`crysbench.store`). (io)

A store is written in *blocks* of consecutive example rows. :class:`StoreLayout`
plans where every block's rows go; :class:`StoreWriter` creates the arrays once,
then any process (a loky worker, a dask task on another machine) opens the same
layout and writes one block: its meta chunks and the whole shards of the ragged
tables it owns. Two blocks never share a chunk or a shard, so blocks are written
concurrently and a retried block rewrites identical bytes. Bytes depend only on the
examples and the layout, never on which process wrote what, or when.

Size: about 450 lines: the layout and the writer share the schema tables and are
changed together (splitting them would put one on-disk format in two files).

Examples
--------
>>> import tempfile, numpy as np
>>> layout = StoreLayout.plan(np.array([3, 2]), np.array([1, 1]), block=1)
>>> layout.blocks, layout.refl_start(1) % layout.refl_shard
(2, 0)
>>> w = StoreWriter.create(tempfile.mkdtemp() + "/s.zarr", layout)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import zarr

from crysbench.shards import ShardEncoder
from crysbench.store import compressor

__all__ = ["META_FIELDS", "RAGGED_TABLES", "StoreLayout", "StoreWriter"]

#: Per-example columns: name -> (dtype, trailing shape). Strings are ``str``.
META_FIELDS: dict[str, tuple[object, tuple[int, ...]]] = {
    "id": (str, ()),
    "pdb_id": (str, ()),
    "chain": (str, ()),
    "sequence": (str, ()),
    "checksum": (str, ()),
    "entity": (np.int32, ()),
    "start": (np.int32, ()),
    "dmin": (np.float64, ()),
    "rate": (np.float64, ()),
    "density_max": (np.float32, ()),
    "density_min": (np.float32, ()),
    "patterson_max": (np.float32, ()),
    "cell": (np.float64, (6,)),
    "grid_shape": (np.int32, (3,)),
    "split": (np.int8, ()),
    "bucket": (np.int32, ()),
    "refl_start": (np.int64, ()),
    "n_refl": (np.int32, ()),
    "atom_start": (np.int64, ()),
    "n_atom": (np.int32, ()),
}

#: Ragged tables: record key -> (array path, dtype, trailing shape, size column).
RAGGED_TABLES: dict[str, tuple[str, object, tuple[int, ...], str]] = {
    "refl": ("reflections", np.float32, (5,), "n_refl"),
    "element": ("atoms/element", np.uint8, (), "n_atom"),
    "name": ("atoms/name", np.uint8, (4,), "n_atom"),
    "residue": ("atoms/residue", np.int16, (), "n_atom"),
    "xyz": ("atoms/xyz", np.float32, (3,), "n_atom"),
}

_CHUNK_ROWS = 1 << 13  # inner chunks keep random access cheap (~160 KB of reflections)
_SHARD_CHUNKS = 256  # 256 chunks a shard: few files (one shard ≈ 20 MB on disk)


@dataclasses.dataclass(frozen=True)
class StoreLayout:
    """Where each block of example rows lives (JSON-able; recorded in the store).

    Attributes
    ----------
    n : int
        Number of examples.
    block : int
        Example rows per block (the last block may be shorter).
    refl_blocks, atom_blocks : tuple of int
        First ragged row of every block, each a multiple of the table's shard length.
    refl_rows, atom_rows : int
        Length of each ragged table (past the last block's data).
    """

    n: int
    block: int
    refl_blocks: tuple[int, ...]
    atom_blocks: tuple[int, ...]
    refl_rows: int
    atom_rows: int
    chunk: int = _CHUNK_ROWS
    shard_chunks: int = _SHARD_CHUNKS

    @property
    def blocks(self) -> int:
        return len(self.refl_blocks)

    @property
    def refl_shard(self) -> int:
        return self.chunk * self.shard_chunks

    def rows(self, b: int) -> tuple[int, int]:
        """Return the example rows ``[lo, hi)`` of block ``b``.

        Parameters
        ----------
        b : int
            Block number.

        Returns
        -------
        tuple of int
            ``(lo, hi)``, the first row and one past the last.
        """
        return b * self.block, min((b + 1) * self.block, self.n)

    def refl_start(self, b: int) -> int:
        return self.refl_blocks[b]

    @classmethod
    def plan(
        cls,
        n_refl: np.ndarray,
        n_atom: np.ndarray,
        block: int,
        chunk: int = _CHUNK_ROWS,
        shard_chunks: int = _SHARD_CHUNKS,
    ) -> StoreLayout:
        """Layout for examples of the given sizes (in store order).

        ``block`` is the largest block: the rows are cut into ``ceil(n / block)``
        blocks of equal size (so the write tasks are balanced), a function of ``n``
        alone (:meth:`block_rows`).
        """
        n = len(n_refl)
        rows = cls.block_rows(n, block)
        starts = range(0, max(n, 1), rows)
        refl = [int(np.asarray(n_refl)[lo : lo + rows].sum()) for lo in starts]
        atom = [int(np.asarray(n_atom)[lo : lo + rows].sum()) for lo in starts]
        return cls.from_totals(n, rows, refl, atom, chunk, shard_chunks)

    @staticmethod
    def block_rows(n: int, block: int) -> int:
        """Rows of each block (the last may be shorter) when blocks hold at most ``block``.

        Examples
        --------
        >>> StoreLayout.block_rows(10, 4), StoreLayout.block_rows(0, 4)
        (4, 1)
        """
        nblocks = max(1, -(-n // block))
        return max(1, -(-n // nblocks))

    @classmethod
    def from_totals(
        cls,
        n: int,
        rows: int,
        refl: Sequence[int],
        atom: Sequence[int],
        chunk: int = _CHUNK_ROWS,
        shard_chunks: int = _SHARD_CHUNKS,
    ) -> StoreLayout:
        """Layout from each block's total reflections and atoms (blocks of ``rows`` rows,
        :meth:`block_rows`): what a build's plan gives without per-example copies."""
        shard = chunk * shard_chunks
        starts: dict[str, list[int]] = {"refl": [], "atom": []}
        ends = {}
        for key, used_by_block in (("refl", refl), ("atom", atom)):
            pos = 0
            for used in used_by_block:
                starts[key].append(pos)
                pos += -(-int(used) // shard) * shard if used else 0
            ends[key] = starts[key][-1] + int(used_by_block[-1])
        return cls(
            n=n,
            block=rows,
            refl_blocks=tuple(starts["refl"]),
            atom_blocks=tuple(starts["atom"]),
            refl_rows=max(ends["refl"], 1),
            atom_rows=max(ends["atom"], 1),
            chunk=chunk,
            shard_chunks=shard_chunks,
        )

    def ragged_start(self, key: str, b: int) -> int:
        return (self.refl_blocks if RAGGED_TABLES[key][3] == "n_refl" else self.atom_blocks)[b]

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in vars(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> StoreLayout:
        d = dict(d)
        d["refl_blocks"], d["atom_blocks"] = tuple(d["refl_blocks"]), tuple(d["atom_blocks"])
        return cls(**d)


class StoreWriter:
    """Create the store's arrays and write blocks of examples into them.

    Parameters
    ----------
    path : str
        Local path or fsspec URL of the (temporary) store being written.
    layout : StoreLayout
        Where each block's rows go (the layout the arrays were created with).
    root : zarr.Group, optional
        The store's opened root group; opened from ``path`` (read-write) otherwise.
    """

    def __init__(self, path: str, layout: StoreLayout, root: zarr.Group | None = None):
        self.path = str(path)
        self.layout = layout
        self.root = root if root is not None else zarr.open_group(self.path, mode="r+")

    @classmethod
    def create(cls, path: str, layout: StoreLayout) -> StoreWriter:
        """Create every array of the layout (no data yet) and return the writer.

        Parameters
        ----------
        path : str
            Local path or fsspec URL of the store; anything there is replaced.
        layout : StoreLayout
            Where each block's rows go.

        Returns
        -------
        StoreWriter
            A writer of the new store.
        """
        root = zarr.open_group(str(path), mode="w", zarr_format=3)
        meta = root.create_group("meta")
        rows = max(1, min(layout.block, layout.n or 1))
        for name, (dtype, tail) in META_FIELDS.items():
            kw = {} if dtype is str else {"compressors": compressor()}
            meta.create_array(
                name, shape=(layout.n,) + tail, dtype=dtype, chunks=(rows,) + tail, **kw
            )
        root.create_group("atoms")
        for path_, dtype, tail, size in RAGGED_TABLES.values():
            total = layout.refl_rows if size == "n_refl" else layout.atom_rows
            chunk = min(layout.chunk, total)
            shard = min(layout.refl_shard, -(-total // chunk) * chunk)
            root.create_array(
                path_,
                shape=(total,) + tail,
                dtype=dtype,
                chunks=(chunk,) + tail,
                shards=(shard,) + tail,
                compressors=compressor(),
            )
        root.attrs.update({"layout": layout.to_dict()})
        return cls(path, layout, root)

    # -- one block -----------------------------------------------------------------
    def write_block(self, b: int, records: Iterable[dict], columns: dict[str, np.ndarray]) -> None:
        """Write block ``b`` from its example records, in store order, in one pass.

        Parameters
        ----------
        b : int
            Block number.
        records : iterable of dict
            One per row of the block: ``{"head": {...meta fields...}, "refl": (n, 5),
            "element", "name", "residue", "xyz"}`` (the record of
            :mod:`crysbench.staging`); consumed lazily, so memory stays at about two
            shards of each table plus the block's meta columns.
        columns : dict
            Meta columns not in the records (``split``, ``bucket``), one value per row.
        """
        lo, hi = self.layout.rows(b)
        heads: dict[str, list] = {}
        streams = {
            key: _ShardStream(self.root[path_], self.layout.ragged_start(key, b), dtype, tail)
            for key, (path_, dtype, tail, _) in RAGGED_TABLES.items()
        }
        room = {key: self._room(key, b) for key in streams}
        for rec in records:
            for k, val in rec["head"].items():
                heads.setdefault(k, []).append(val)
            for key, st in streams.items():
                if st.pos + st.have + len(rec[key]) - st.start > room[key]:
                    # checked before writing: never into another block's shards
                    raise ValueError(f"block {b}: more {key} rows than its layout has room for")
                st.push(rec[key])
        for st in streams.values():
            st.close()
        cols = {**{k: np.asarray(v) for k, v in heads.items()}, **columns}
        for key, size in (("refl_start", "n_refl"), ("atom_start", "n_atom")):
            sizes = np.asarray(cols[size], dtype=np.int64)
            first = (
                self.layout.refl_blocks[b] if key == "refl_start" else self.layout.atom_blocks[b]
            )
            cols[key] = first + np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        meta = self.root["meta"]
        for name, (dtype, _) in META_FIELDS.items():
            data = np.asarray(cols[name])
            if len(data) != hi - lo:
                raise ValueError(f"block {b}: column {name} has {len(data)} rows, not {hi - lo}")
            if hi > lo:
                meta[name][lo:hi] = data.astype(str) if dtype is str else data.astype(dtype)

    def _room(self, key: str, b: int) -> int:
        refl = RAGGED_TABLES[key][3] == "n_refl"
        starts = self.layout.refl_blocks if refl else self.layout.atom_blocks
        total = self.layout.refl_rows if refl else self.layout.atom_rows
        return (starts[b + 1] if b + 1 < len(starts) else total) - starts[b]

    # -- after all blocks -------------------------------------------------------------
    def iter_column(self, name: str) -> Iterator[np.ndarray]:
        """Yield a written meta column, block by block (bounded memory).

        Parameters
        ----------
        name : str
            Meta column, one of :data:`META_FIELDS`.

        Yields
        ------
        numpy.ndarray
            The column's values for one block's rows.
        """
        arr = self.root["meta"][name]
        for b in range(self.layout.blocks):
            lo, hi = self.layout.rows(b)
            if hi > lo:
                yield arr[lo:hi]

    def write_id_lists(
        self, split_names: dict[int, str], counts: dict[str, int] | None = None
    ) -> dict[str, int]:
        """Write ``splits/<name>``: the ids of each split in store order, in one pass.

        Parameters
        ----------
        split_names : dict
            Split name by the code stored in the ``split`` column.
        counts : dict, optional
            Examples by split name when the caller knows them (a build's plan);
            otherwise they are counted from the written ``split`` column.

        Returns
        -------
        dict
            Number of examples by split name.
        """
        grp = self.root.create_group("splits")
        if counts is None:
            counts = {name: 0 for name in split_names.values()}
            for s in self.iter_column("split"):
                for code, name in split_names.items():
                    counts[name] += int((s == code).sum())
        counts = {name: int(counts.get(name, 0)) for name in split_names.values()}
        chunk = max(1, min(self.layout.block, self.layout.n or 1))
        arrays = {
            code: grp.create_array(
                name, shape=(counts[name],), dtype=str, chunks=(max(1, min(chunk, counts[name])),)
            )
            for code, name in split_names.items()
        }
        bufs: dict[int, list[np.ndarray]] = {code: [] for code in arrays}
        pos = dict.fromkeys(arrays, 0)

        def flush(code: int, final: bool) -> None:
            arr = arrays[code]
            data = np.concatenate(bufs[code]) if bufs[code] else np.zeros(0, dtype=str)
            k = len(data) if final else len(data) - len(data) % arr.chunks[0]
            if k:
                arr[pos[code] : pos[code] + k] = data[:k]
                pos[code] += k
            bufs[code] = [data[k:]] if len(data) > k else []

        for ids, s in zip(self.iter_column("id"), self.iter_column("split")):
            for code, arr in arrays.items():
                bufs[code].append(ids[s == code])
                if sum(len(x) for x in bufs[code]) >= arr.chunks[0]:
                    flush(code, final=False)
        for code in arrays:
            flush(code, final=True)
        return counts

    def write_table(self, group: str, columns: dict[str, np.ndarray]) -> None:
        """Write a small group of equal-length string columns (e.g. ``rejections``).

        Parameters
        ----------
        group : str
            Name of the group to create.
        columns : dict
            Column name to its values (stored as strings).
        """
        grp = self.root.create_group(group)
        for name, data in columns.items():
            data = np.asarray(data, dtype=str)
            arr = grp.create_array(
                name, shape=data.shape, dtype=str, chunks=(max(1, min(len(data), 1 << 14)),)
            )
            if len(data):
                arr[:] = data

    def finish(self, attrs: dict) -> None:
        """Write the root attributes last: a store without them does not open.

        Parameters
        ----------
        attrs : dict
            Root attributes (schema, variant, recipe, counts, build report, ...).
        """
        self.root.attrs.update(attrs)


class _ShardStream:
    """Appends rows to a ragged table and writes them in whole shards."""

    def __init__(self, arr, start: int, dtype, tail: tuple[int, ...]):
        self.arr, self.pos, self.dtype, self.tail = arr, start, dtype, tail
        self.start = start
        self.shard = arr.shards[0] if arr.shards else arr.chunks[0]
        self.encoder = ShardEncoder.for_array(arr)  # None: an unusual layout, written by zarr
        self.buf: list[np.ndarray] = []
        self.have = 0

    def push(self, rows: np.ndarray) -> None:
        # a copy: a view would keep the whole decoded record alive until the shard is written
        rows = np.array(rows, dtype=self.dtype, copy=True).reshape((-1,) + self.tail)
        self.buf.append(rows)
        self.have += len(rows)
        if self.have >= self.shard:
            data = np.concatenate(self.buf)
            k = len(data) - len(data) % self.shard
            self._store(data[:k])
            self.buf = [data[k:]] if len(data) > k else []
            self.have = len(data) - k

    def close(self) -> None:
        if self.have:
            self._store(np.concatenate(self.buf))
        self.buf, self.have = [], 0

    def _store(self, rows: np.ndarray) -> None:
        # whole shards from a shard boundary (a block owns its shards; the last may end early)
        if self.encoder is not None:
            self.encoder.write(self.pos, rows)
        else:
            self.arr[self.pos : self.pos + len(rows)] = rows
        self.pos += len(rows)
