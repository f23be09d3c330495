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

The format's constants, codec and checksum are :mod:`crysbench.store_format`.
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

from typing import Any

import gemmi
import numpy as np
import zarr

from crysbench.columns import LazyColumns, LazyIndex
from crysbench.example import Example, atom_residue_names
from crysbench.store_format import (
    CODEC,
    SCHEMA_VERSION,
    SPLIT_CODES,
    SPLIT_NAMES,
    StoreError,
    blosc_codec,
    compressor,
    disk_usage,
    example_checksum,
    write_arrays,
)
from crysbench.store_read import TableReader

__all__ = [
    "CODEC",
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


#: The example record read back from a store is :class:`crysbench.example.Example`
#: (with ``split`` set); the old name stays importable.
StoredExample = Example


class Store(TableReader):
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
        """Example ids of a split, in store order (split, bucket, id).

        Parameters
        ----------
        split : str, optional
            As for :meth:`positions`; ``None``: every example.

        Returns
        -------
        list of str
            The ids.
        """
        ids = self.meta["id"] if split is None else self.meta["id"][self.positions(split)]
        return [str(i) for i in ids.tolist()]

    def positions(self, split: str) -> np.ndarray:
        """Row numbers of a split.

        Parameters
        ----------
        split : str
            ``"train"``, ``"valid"``, ``"test"``, ``"train+valid"`` or ``"all"``.

        Returns
        -------
        numpy.ndarray of int
            Increasing rows.
        """
        if split == "all":
            return np.arange(len(self))
        codes = self.meta["split"]
        names = split.split("+")
        bad = [n for n in names if n not in SPLIT_CODES]
        if bad:
            raise KeyError(f"unknown split {split!r}; use train, valid, test, train+valid or all")
        mask = np.isin(codes, [SPLIT_CODES[n] for n in names])
        return np.nonzero(mask)[0]

    def index(self, example_id: str) -> int:
        """Row of an example id.

        Parameters
        ----------
        example_id : str
            An id of the store.

        Returns
        -------
        int
            Its row.
        """
        try:
            return self._index[example_id]
        except (KeyError, TypeError):
            raise KeyError(f"{example_id!r} is not in {self.path}") from None

    # -- reading (rows of the ragged tables: :class:`TableReader`) -------------
    def get(self, key: str | int, verify: bool = True) -> Example:
        """One example by id or row number.

        Parameters
        ----------
        key : str or int
            Example id or row.
        verify : bool
            Check the reflections against the stored checksum and the atoms for damage
            (see :meth:`read_reflections`); scoring, submitting and exporting rely on it.

        Returns
        -------
        StoredExample
            The example (maps synthesised on first use).

        Raises
        ------
        crysbench.integrity.IntegrityError
            A damaged store, naming the array and the example.
        """
        row = self.index(key) if isinstance(key, str) else int(key)
        m = self.meta
        (hkl,), (F,) = self.read_reflections(np.array([row]), verify=verify)
        atoms = self.read_atoms(row, verify=verify)
        sequence = str(m["sequence"][row])
        return Example(
            id=str(m["id"][row]),
            pdb_id=str(m["pdb_id"][row]),
            entity=int(m["entity"][row]),
            chain=str(m["chain"][row]),
            start=int(m["start"][row]),
            sequence=sequence,
            split=SPLIT_NAMES[int(m["split"][row])],
            cell=gemmi.UnitCell(*m["cell"][row].tolist()),
            dmin=float(m["dmin"][row]),
            rate=float(m["rate"][row]),
            grid_shape=tuple(int(x) for x in m["grid_shape"][row]),
            hkl=hkl,
            F=F,
            elements=atoms["element"],
            atom_names=atoms["name"],
            residue_names=atom_residue_names(sequence, atoms["residue"]),
            residue_index=atoms["residue"],
            positions=atoms["xyz"],
        )

    def verify(self, block: int = 512, progress: Any = None) -> dict:
        """Check every example, the metadata, the chunks and the fingerprint.

        Parameters
        ----------
        block : int
            Examples per read.
        progress : callable, optional
            Called with (examples done, total).

        Returns
        -------
        dict
            The report of :func:`crysbench.verification.verify_store` (``crysbench verify``);
            ``problems`` is empty for an intact store.
        """
        from crysbench.verification import verify_store

        return verify_store(self, block=block, progress=progress)

    def rejections(self) -> list[tuple[str, str, str]]:
        """Every dropped entry or segment of the build.

        Returns
        -------
        list of tuple of str
            ``(id, reason, stage)``.
        """
        g = self.root["rejections"]
        cols = [g[k][...] for k in ("id", "reason", "stage")]
        return [(str(a), str(b), str(c)) for a, b, c in zip(*cols)]

    def info(self) -> dict:
        """Machine-readable summary (``crysbench info --json``).

        Returns
        -------
        dict
            Variant, recipe hash, counts, fingerprint, normalization, buckets, sizes.
        """
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

    Returns
    -------
    Store
        The opened store.

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
