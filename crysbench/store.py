"""The zarr v3 store of one built variant version (SPEC §4). (io)

Layout of the group (every array sharded, so a 400,000-example store holds a few
thousand files at most)::

    <store>/zarr.json            attrs: variant, version, recipe, recipe_hash,
                                 crysbench/gemmi versions, counts, fingerprint,
                                 normalization, buckets, report
    meta/<field>                 one row per example (columnar), examples ordered
                                 by (split, bucket, id): id, pdb_id, entity, chain, start,
                                 sequence, split, bucket, cell (n,6), dmin, rate,
                                 grid_shape (n,3), refl_start/n_refl, atom_start/n_atom
                                 (where each example's rows lie in the tables below),
                                 density_max/min, patterson_max (= P(0)), checksum
    reflections      (R,5) float32  Re F, Im F (electrons, lossless) and h, k, l (exact
                                 small integers) of each example's canonical half
                                 sphere to dmin: one read per example or bucket batch
    atoms/element    (A,) uint8    atomic number
    atoms/name       (A,4) uint8   ASCII atom name
    atoms/residue    (A,) int16    residue position in the segment
    atoms/xyz        (A,3) float32 Cartesian Å, in the example's cell
    splits/<name>    id lists
    rejections/{id,reason,stage}  everything the build dropped, and why

Examples are written in *blocks* of ``block`` consecutive rows (attribute
``layout``): a block owns whole meta chunks and whole shards of the ragged tables
(its ragged rows start on a shard boundary), so blocks are written in parallel by
independent processes or cluster tasks without two writers ever touching one shard
(zarr's sharded writes are read-modify-write of a whole shard). The gap left after
a block's last shard holds no data and costs no bytes on disk.

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
    "blosc_codec",
    "disk_usage",
]

SCHEMA_VERSION = 3  # 3: blocks own whole shards (refl_start/n_refl); 2: one (R, 5) table

_SPLIT_CODES = {"train": 0, "valid": 1, "test": 2}
_SPLIT_NAMES = {v: k for k, v in _SPLIT_CODES.items()}
_ELEMENT_NAMES = {z: gemmi.Element(z).name for z in range(1, 100)}


class StoreError(ValueError):
    """A store that is missing, incomplete, or built with another recipe."""


#: The store's codec, decided here once: zstd level 1 with byte shuffle, through Blosc.
#: Level 1 encodes reflections 4.5x faster than level 3 for 10 % more bytes (0.63 vs
#: 0.57 of raw), which keeps compression below the assembly budget of 1 ms per example
#: (`python benchmarks/codecs.py`). Also used for the build's staging files.
CODEC = {"cname": "zstd", "clevel": 1, "shuffle": "shuffle"}


def compressor() -> Any:
    """:data:`CODEC` as a zarr v3 codec."""
    return zarr.codecs.BloscCodec(**CODEC)


def blosc_codec() -> Any:
    """:data:`CODEC` as a numcodecs codec for raw bytes (byte shuffle of 4-byte words)."""
    import numcodecs

    shuffle = {"shuffle": numcodecs.Blosc.SHUFFLE, "noshuffle": numcodecs.Blosc.NOSHUFFLE}
    return numcodecs.Blosc(
        cname=CODEC["cname"], clevel=CODEC["clevel"], shuffle=shuffle[CODEC["shuffle"]], typesize=4
    )


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
        """Fingerprint of the test split (ids and map checksums), checked against them.

        Raises
        ------
        crysbench.integrity.IntegrityError
            The one in ``zarr.json`` is not the one recomputed from the test ids and their
            stored checksums (edited attributes, or damaged ``meta`` columns).
        """
        fp = str(self.attrs["fingerprint"])
        if not getattr(self, "_fingerprint_ok", False):
            from crysbench.fingerprints import fingerprint_mismatch
            from crysbench.integrity import IntegrityError, recomputed_fingerprint

            problem = fingerprint_mismatch(
                fp, recomputed_fingerprint(self), self.variant, "zarr.json",
                "its test ids and checksums",
                hint="edited attributes or damaged meta/id, meta/split or meta/checksum",
            )  # fmt: skip
            if problem is not None:
                raise IntegrityError(self.path, [problem])
            self._fingerprint_ok = True
        return fp

    @property
    def normalization(self) -> dict:
        """Scaling constants per map kind, from the training split."""
        return dict(self.attrs["normalization"])

    def __len__(self) -> int:
        return self.meta.length()

    def __contains__(self, example_id: str) -> bool:
        return example_id in self._index

    def ids(self, split: str | None = None) -> list[str]:
        """Example ids of a split (``None``: all), in store order (split, bucket, id)."""
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
    def _verify_meta(self) -> None:
        """Check the metadata once per opened store (see :func:`crysbench.integrity.check_meta`)."""
        if getattr(self, "_meta_ok", False):
            return
        from crysbench.integrity import IntegrityError, check_meta

        problems = check_meta(self)
        if problems:
            raise IntegrityError(self.path, problems)
        self._meta_ok = True

    def _read_refl(self, rows: np.ndarray) -> tuple[list, list, list]:
        """hkl (int16), F (complex64) and the raw float hkl of rows, unverified."""
        from crysbench.integrity import IntegrityError

        start, count = self.meta["refl_start"], self.meta["n_refl"]
        lo = int(start[rows].min())
        hi = int((start[rows] + count[rows]).max())
        if hi - lo > 4 * int(count[rows].sum()) + 1:
            parts = [self._read_refl(np.array([r])) for r in rows]
            return [p[0][0] for p in parts], [p[1][0] for p in parts], [p[2][0] for p in parts]
        try:
            block = self._refl[lo:hi]
        except Exception as exc:  # a chunk that does not decode
            ids = [str(self.meta["id"][r]) for r in rows]
            raise IntegrityError(
                self.path,
                [f"reflections: cannot be read for {', '.join(ids[:8])} "
                 f"({type(exc).__name__}: {exc}); damaged chunk"],
                ids,
            ) from None  # fmt: skip
        Fs, hs, raw = [], [], []
        for r in rows:
            a = int(start[r]) - lo
            b = a + int(count[r])
            Fs.append((block[a:b, 0] + 1j * block[a:b, 1]).astype(np.complex64))
            raw.append(block[a:b, 2:5])
            hs.append(raw[-1].astype(np.int16))
        return hs, Fs, raw

    def read_reflections(
        self, rows: np.ndarray, verify: bool = True
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """hkl and F of several rows, with one contiguous read when rows are adjacent.

        Parameters
        ----------
        rows : ndarray of int
        verify : bool
            Check every row against its stored checksum (and the metadata once per store);
            costs one SHA-256 of the reflections read, about 1 % of a map synthesis.

        Raises
        ------
        crysbench.integrity.IntegrityError
            A damaged store (a :class:`StoreError`), naming the array and the examples.
        """
        rows = np.asarray(rows)
        if verify:
            self._verify_meta()
        hs, Fs, raw = self._read_refl(rows)
        if verify:
            from crysbench.integrity import check_rows, rows_error

            bad = check_rows(self, rows, hs, Fs, raw)
            if bad:
                raise rows_error(self, "reflections", bad)
        return hs, Fs

    def read_atoms(self, row: int, verify: bool = True) -> dict:
        """Atoms of one row: element symbols, names, residue positions, xyz (Å).

        With ``verify`` an unreadable chunk, element 0, an empty name or non-finite
        coordinates raise :class:`crysbench.integrity.IntegrityError`.
        """
        from crysbench.integrity import IntegrityError, check_atoms

        a0 = int(self.meta["atom_start"][row])
        a1 = a0 + int(self.meta["n_atom"][row])
        try:
            raw = {k: self._atoms[k][a0:a1] for k in ("element", "name", "residue", "xyz")}
        except Exception as exc:  # a chunk that does not decode
            eid = str(self.meta["id"][row])
            raise IntegrityError(
                self.path, [f"atoms: cannot be read for {eid} ({type(exc).__name__}: {exc})"], [eid]
            ) from None
        if verify:
            problems = check_atoms(self, row, raw)
            if problems:
                raise IntegrityError(self.path, problems, [str(self.meta["id"][row])])
        return {
            "element": np.array([_ELEMENT_NAMES.get(int(x), "X") for x in raw["element"]]),
            "name": np.array([bytes(n).rstrip(b"\0").decode() for n in raw["name"]]),
            "residue": raw["residue"].astype(np.int32),
            "xyz": raw["xyz"].astype(np.float64),
        }

    def get(self, key: str | int, verify: bool = True) -> StoredExample:
        """One example by id or row number.

        Parameters
        ----------
        key : str or int
        verify : bool
            Check the reflections against the stored checksum and the atoms for damage
            (see :meth:`read_reflections`); scoring, submitting and exporting rely on it.

        Raises
        ------
        crysbench.integrity.IntegrityError
            A damaged store, naming the array and the example.
        """
        row = self.index(key) if isinstance(key, str) else int(key)
        m = self.meta
        (hkl,), (F,) = self.read_reflections(np.array([row]), verify=verify)
        atoms = self.read_atoms(row, verify=verify)
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

    def verify(self, block: int = 512, progress: Any = None) -> dict:
        """Check every example, the metadata, the chunks and the fingerprint.

        See :func:`crysbench.integrity.verify_store` (``crysbench verify STORE``); returns
        its report, whose ``problems`` list is empty for an intact store.
        """
        from crysbench.integrity import verify_store

        return verify_store(self, block=block, progress=progress)

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
    try:
        store = Store(path)
    except StoreError:
        raise
    except Exception as exc:  # metadata that does not decode or fit its shape
        raise StoreError(
            f"{path}: damaged store, its metadata cannot be read ({type(exc).__name__}: {exc}); "
            "rebuild it or fetch it again"
        ) from None
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
