"""The zarr v3 store of one built variant version (SPEC §4). (io)

Layout of the group (every array sharded, so a 400,000-example store holds a few
thousand files at most)::

    <store>/zarr.json            attrs: variant, version, recipe, recipe_hash,
                                 crysbench/gemmi versions, counts, fingerprint,
                                 normalization, buckets, report
    meta/<field>                 one row per example (columnar), examples ordered
                                 by (bucket, id): id, pdb_id, entity, chain, start,
                                 sequence, split, bucket, cell (n,6), dmin, rate,
                                 grid_shape (n,3), refl_offset (n+1), atom_offset
                                 (n+1), density_max/min, patterson_max (= P(0)), checksum
    reflections      (R,5) float32  Re F, Im F (electrons, lossless) and h, k, l (exact
                                 small integers) of each example's canonical half
                                 sphere to dmin: one read per example or bucket batch
    atoms/element    (A,) uint8    atomic number
    atoms/name       (A,4) uint8   ASCII atom name
    atoms/residue    (A,) int16    residue position in the segment
    atoms/xyz        (A,3) float32 Cartesian Å, in the example's cell
    splits/<name>    id lists
    rejections/{id,reason,stage}  everything the build dropped, and why

Maps are *not* stored: both are Fourier syntheses of the stored reflections and
are rebuilt exactly at load time (batched per bucket), which keeps a 1.5 Å
example at tens of KB instead of ~1 MB of float32 maps.

Examples
--------
>>> import crysbench  # doctest: +SKIP
>>> store = crysbench.open_store("var-res.zarr")  # doctest: +SKIP
>>> store.variant, len(store.ids("test"))  # doctest: +SKIP
('var-res@1', 52)
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from typing import Any

import gemmi
import numpy as np
import zarr

from crysbench.columns import LazyColumns, LazyIndex
from crysbench.example import FragmentMaps

__all__ = [
    "SCHEMA_VERSION",
    "StoreError",
    "Store",
    "StoredExample",
    "open_store",
    "example_checksum",
    "write_arrays",
    "compressor",
    "disk_usage",
]

SCHEMA_VERSION = 2  # 2: reflections as one (R, 5) table; Patterson scale = P(0)

_SPLIT_CODES = {"train": 0, "valid": 1, "test": 2}
_SPLIT_NAMES = {v: k for k, v in _SPLIT_CODES.items()}
_ELEMENT_NAMES = {z: gemmi.Element(z).name for z in range(1, 100)}


class StoreError(ValueError):
    """A store that is missing, incomplete, or built with another recipe."""


def compressor() -> Any:
    """zstd level 3 with byte shuffle, through Blosc (half the time of level 5, 4 % more bytes)."""
    return zarr.codecs.BloscCodec(cname="zstd", clevel=3, shuffle="shuffle")


def example_checksum(hkl: np.ndarray, F: np.ndarray, grid_shape: tuple[int, ...]) -> str:
    """SHA-256 (first 16 hex) of an example's reflections and grid: fixes both maps."""
    h = hashlib.sha256()
    h.update(np.asarray(grid_shape, dtype="<i4").tobytes())
    h.update(np.ascontiguousarray(hkl, dtype="<i2").tobytes())
    h.update(np.ascontiguousarray(F, dtype="<c8").tobytes())
    return h.hexdigest()[:16]


def write_arrays(group: zarr.Group, name: str, data: np.ndarray, rows: int = 1 << 16) -> None:
    """Create one sharded, compressed array and fill it."""
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


@dataclasses.dataclass
class StoredExample(FragmentMaps):
    """One example read back from a store; same attributes as :class:`crysbench.Example`."""

    id: str
    pdb_id: str
    entity: int
    chain: str
    start: int
    sequence: str
    split: str
    cell: gemmi.UnitCell
    dmin: float
    rate: float
    grid_shape: tuple[int, int, int]
    hkl: np.ndarray
    F: np.ndarray
    elements: np.ndarray
    atom_names: np.ndarray
    residue_index: np.ndarray
    positions: np.ndarray

    @property
    def residue_names(self) -> np.ndarray:
        """Three-letter residue name of every atom."""
        from crysbench.residues import ONE_LETTER

        three = {v: k for k, v in ONE_LETTER.items()}
        names = np.array([three[c] for c in self.sequence])
        return names[self.residue_index]


class Store:
    """Read access to a built store (local path or fsspec URL).

    Metadata columns are read once into memory; reflections and atoms are read
    per example or per contiguous range.

    Parameters
    ----------
    path : str
        Local path or URL (``s3://…``, ``memory://…``, any fsspec protocol).
    """

    def __init__(self, path: str):
        self.path = str(path)
        try:
            self.root = zarr.open_group(self.path, mode="r")
        except Exception as exc:
            raise StoreError(f"{path}: not a crysbench store ({exc})") from None
        attrs = dict(self.root.attrs)
        schema = attrs.get("crysbench_schema")
        if schema is None or "variant" not in attrs:
            raise StoreError(
                f"{path}: not a complete crysbench store (an interrupted build leaves "
                "none behind; run `crysbench build` again)"
            )
        if schema != SCHEMA_VERSION:
            raise StoreError(
                f"{path}: store schema {schema}, this crysbench reads schema {SCHEMA_VERSION}; "
                f"rebuild it with `crysbench build --variant {attrs['variant']} --out {path}`"
            )
        self.attrs = attrs
        # column-wise, each column read on first use; the id lookup built on first use
        self.meta = LazyColumns(self.root["meta"])
        self._index = LazyIndex(self.meta)
        self._refl = self.root["reflections"]
        self._atoms = {k: self.root[f"atoms/{k}"] for k in ("element", "name", "residue", "xyz")}

    # -- identity ---------------------------------------------------------------
    @property
    def variant(self) -> str:
        """``"name@version"`` of the recipe the store was built with."""
        return str(self.attrs["variant"])

    @property
    def recipe_hash(self) -> str:
        return str(self.attrs["recipe_hash"])

    @property
    def fingerprint(self) -> str:
        """Fingerprint of the test split (ids and map checksums)."""
        return str(self.attrs["fingerprint"])

    @property
    def normalization(self) -> dict:
        """Scaling constants per map kind, from the training split."""
        return dict(self.attrs["normalization"])

    def __len__(self) -> int:
        return self.meta.length()

    def __contains__(self, example_id: str) -> bool:
        return example_id in self._index

    def ids(self, split: str | None = None) -> list[str]:
        """Example ids of a split (``None``: all), in store order (bucket, id)."""
        ids = self.meta["id"] if split is None else self.meta["id"][self.positions(split)]
        return [str(i) for i in ids.tolist()]

    def positions(self, split: str) -> np.ndarray:
        """Row numbers of a split; ``"train"`` excludes ``"valid"``, ``"train+valid"`` both."""
        if split == "all":
            return np.arange(len(self))
        codes = self.meta["split"]
        names = split.split("+")
        bad = [n for n in names if n not in _SPLIT_CODES]
        if bad:
            raise KeyError(f"unknown split {split!r}; use train, valid, test, train+valid or all")
        mask = np.isin(codes, [_SPLIT_CODES[n] for n in names])
        return np.nonzero(mask)[0]

    def index(self, example_id: str) -> int:
        """Row of an example id."""
        try:
            return self._index[example_id]
        except (KeyError, TypeError):
            raise KeyError(f"{example_id!r} is not in {self.path}") from None

    # -- reading ---------------------------------------------------------------
    def read_reflections(self, rows: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """hkl and F of several rows, with one contiguous read when rows are adjacent."""
        rows = np.asarray(rows)
        off = self.meta["refl_offset"]
        lo, hi = int(off[rows.min()]), int(off[rows.max() + 1])
        if hi - lo > 4 * int(sum(off[r + 1] - off[r] for r in rows)) + 1:
            parts = [self.read_reflections(np.array([r])) for r in rows]
            return [p[0][0] for p in parts], [p[1][0] for p in parts]
        block = self._refl[lo:hi]
        Fs, hs = [], []
        for r in rows:
            a, b = int(off[r]) - lo, int(off[r + 1]) - lo
            Fs.append(block[a:b, 0] + 1j * block[a:b, 1])
            hs.append(block[a:b, 2:5].astype(np.int16))
        return hs, [f.astype(np.complex64) for f in Fs]

    def read_atoms(self, row: int) -> dict:
        """Atoms of one row: element symbols, names, residue positions, xyz (Å)."""
        off = self.meta["atom_offset"]
        a0, a1 = int(off[row]), int(off[row + 1])
        z = self._atoms["element"][a0:a1]
        return {
            "element": np.array([_ELEMENT_NAMES[int(x)] for x in z]),
            "name": np.array([bytes(n).rstrip(b"\0").decode() for n in self._atoms["name"][a0:a1]]),
            "residue": self._atoms["residue"][a0:a1].astype(np.int32),
            "xyz": self._atoms["xyz"][a0:a1].astype(np.float64),
        }

    def get(self, key: str | int) -> StoredExample:
        """One example by id or row number."""
        row = self.index(key) if isinstance(key, str) else int(key)
        m = self.meta
        (hkl,), (F,) = self.read_reflections(np.array([row]))
        atoms = self.read_atoms(row)
        return StoredExample(
            id=str(m["id"][row]),
            pdb_id=str(m["pdb_id"][row]),
            entity=int(m["entity"][row]),
            chain=str(m["chain"][row]),
            start=int(m["start"][row]),
            sequence=str(m["sequence"][row]),
            split=_SPLIT_NAMES[int(m["split"][row])],
            cell=gemmi.UnitCell(*m["cell"][row].tolist()),
            dmin=float(m["dmin"][row]),
            rate=float(m["rate"][row]),
            grid_shape=tuple(int(x) for x in m["grid_shape"][row]),
            hkl=hkl,
            F=F,
            elements=atoms["element"],
            atom_names=atoms["name"],
            residue_index=atoms["residue"],
            positions=atoms["xyz"],
        )

    def rejections(self) -> list[tuple[str, str, str]]:
        """Every dropped entry or segment of the build: ``(id, reason, stage)``."""
        g = self.root["rejections"]
        cols = [g[k][...] for k in ("id", "reason", "stage")]
        return [(str(a), str(b), str(c)) for a, b, c in zip(*cols)]

    def info(self) -> dict:
        """Machine-readable summary (``crysbench info --json``)."""
        a = self.attrs
        return {
            "path": self.path,
            "variant": a["variant"].split("@")[0],
            "version": int(a["variant"].split("@")[1]),
            "variant_key": a["variant"],
            "recipe_hash": a["recipe_hash"],
            "crysbench_version": a["crysbench_version"],
            "counts": a["counts"],
            "entries": a.get("entries", {}),
            "fingerprint": a["fingerprint"],
            "normalization": a["normalization"],
            "rejected": a["report"]["rejected"],
            "buckets": a["buckets"],
            "bytes_per_example": a["report"].get("bytes_per_example"),
        }


def open_store(path: str, variant: str | None = None) -> Store:
    """Open a built store, optionally pinning the variant version.

    Parameters
    ----------
    path : str
        Local path or fsspec URL.
    variant : str, optional
        ``"var-res@1"`` (or ``"var-res"``): refuse a store built with another recipe.

    Raises
    ------
    StoreError
        Missing/incomplete store, or a recipe mismatch (with the rebuild command).
    """
    store = Store(path)
    if variant is not None:
        from crysbench.variants import get_variant

        want = get_variant(variant)
        if store.variant != want.key or store.recipe_hash != want.recipe_hash:
            raise StoreError(
                f"{path} was built with {store.variant} (recipe {store.recipe_hash}), "
                f"not {want.key} (recipe {want.recipe_hash}); rebuild it with "
                f"`crysbench build --variant {want.key} --out {path}`"
            )
    return store


def disk_usage(path: str) -> tuple[int, int]:
    """Bytes and number of files under a local folder."""
    nbytes = nfiles = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            nfiles += 1
            nbytes += os.path.getsize(os.path.join(dirpath, f))
    return nbytes, nfiles
