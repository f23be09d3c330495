"""What the package needs of a store: the :class:`StoreLike` protocol. (pure)

:class:`crysbench.store.Store` (a zarr store on disk or behind fsspec) and
:class:`crysbench.memstore.MemoryStore` (examples held in memory) both implement it;
:func:`crysbench.load_split`, :func:`crysbench.evaluate` and the baselines accept either.

Examples
--------
>>> import crysbench
>>> from crysbench.storelike import StoreLike
>>> store = crysbench.MemoryStore.from_bundled("dipeptide", entries=["3JQH"], limit=2)
>>> isinstance(store, StoreLike)
True
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["StoreLike"]


@runtime_checkable
class StoreLike(Protocol):
    """A read-only collection of examples in store order (split, bucket, id).

    Attributes
    ----------
    path : str
        Where it lives (``memory://…`` for an in-memory store: never reopened by path).
    variant : str
        ``"name@version"`` of the recipe.
    fingerprint : str
        :func:`crysbench.splits.split_fingerprint` of the test ids and their checksums.
    normalization : dict
        ``{"density": {"scale": s, ...}, "patterson": {"scale": s, ...}}`` from the
        training split (:func:`crysbench.assemble.normalization`).
    meta : mapping of str to ndarray
        One row per example: ``id``, ``pdb_id``, ``entity``, ``chain``, ``start``,
        ``sequence``, ``split`` (codes 0/1/2 = train/valid/test), ``cell`` (n, 6),
        ``dmin``, ``rate``, ``grid_shape`` (n, 3), ``checksum``.
    """

    path: str

    @property
    def variant(self) -> str: ...

    @property
    def fingerprint(self) -> str: ...

    @property
    def normalization(self) -> dict: ...

    @property
    def meta(self) -> Any: ...

    def __len__(self) -> int: ...

    def __contains__(self, example_id: str) -> bool: ...

    def ids(self, split: str | None = None) -> list[str]:
        """Example ids of a split (``None``: all), in store order."""
        ...

    def positions(self, split: str) -> np.ndarray:
        """Rows of ``"train"``, ``"valid"``, ``"test"``, ``"train+valid"`` or ``"all"``."""
        ...

    def index(self, example_id: str) -> int:
        """Row of an example id (KeyError when absent)."""
        ...

    def read_reflections(
        self, rows: np.ndarray, verify: bool = True
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """hkl (int16, (m, 3)) and F (complex64, (m,)) of several rows."""
        ...

    def read_atoms(self, row: int, verify: bool = True) -> dict:
        """``element``, ``name``, ``residue`` (int32), ``xyz`` (float64, Å) of one row."""
        ...

    def get(self, key: str | int, verify: bool = True) -> Any:
        """One :class:`crysbench.example.Example` by id or row."""
        ...
