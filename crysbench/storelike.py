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
        """Return the example ids of a split, in store order.

        Parameters
        ----------
        split : str, optional
            ``"train"``, ``"valid"``, ``"test"``, ``"train+valid"``; ``None`` for all.

        Returns
        -------
        list of str
            The ids.
        """
        ...

    def positions(self, split: str) -> np.ndarray:
        """Return the rows of a split.

        Parameters
        ----------
        split : str
            ``"train"``, ``"valid"``, ``"test"``, ``"train+valid"`` or ``"all"``.

        Returns
        -------
        ndarray of int
            Row numbers in store order.
        """
        ...

    def index(self, example_id: str) -> int:
        """Return the row of an example id.

        Parameters
        ----------
        example_id : str
            The example's id.

        Returns
        -------
        int
            Its row.

        Raises
        ------
        KeyError
            When the store has no such example.
        """
        ...

    def read_reflections(
        self, rows: np.ndarray, verify: bool = True
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Read the reflections of several rows.

        Parameters
        ----------
        rows : ndarray of int
            Row numbers.
        verify : bool
            Check each example's checksum (a zarr store; in memory nothing can rot).

        Returns
        -------
        hkl : list of ndarray
            Miller indices, int16, shape (m, 3), one per row.
        F : list of ndarray
            Structure factors, complex64, shape (m,), one per row.
        """
        ...

    def read_atoms(self, row: int, verify: bool = True) -> dict:
        """Read the atoms of one row.

        Parameters
        ----------
        row : int
            Row number.
        verify : bool
            Check the atom table (a zarr store).

        Returns
        -------
        dict
            ``element``, ``name``, ``residue`` (int32) and ``xyz`` (float64, Å) arrays.
        """
        ...

    def get(self, key: str | int, verify: bool = True) -> Any:
        """Return one example by id or row.

        Parameters
        ----------
        key : str or int
            Example id or row number.
        verify : bool
            Check its checksum (a zarr store).

        Returns
        -------
        crysbench.example.Example
            The example, with ``split`` set.
        """
        ...
