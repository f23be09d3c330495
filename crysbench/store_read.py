"""Reading rows of a store's ragged tables, checked against their checksums (SPEC §4). (io)

:class:`TableReader` is the part of :class:`crysbench.store.Store` that reads the
``reflections`` and ``atoms`` tables: several adjacent rows in one contiguous read, every
row checked against its stored checksum and the metadata once per store
(:mod:`crysbench.integrity`), damage reported as an
:class:`~crysbench.integrity.IntegrityError` naming the array and the examples.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from crysbench.store_format import ELEMENT_NAMES

__all__ = ["TableReader"]


class TableReader:
    """Reads reflections and atoms of store rows (mixed into :class:`crysbench.store.Store`).

    Expects ``path``, ``meta`` (columns ``id``, ``refl_start``, ``n_refl``, ``atom_start``,
    ``n_atom``), ``_refl`` (the ``(R, 5)`` reflections array) and ``_atoms`` (the atom
    arrays by name) on the instance.
    """

    path: str
    meta: Any
    _refl: Any
    _atoms: dict[str, Any]

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
        """Read hkl and F of several rows, in one contiguous read when rows are adjacent.

        Parameters
        ----------
        rows : ndarray of int
            Store rows.
        verify : bool
            Check every row against its stored checksum (and the metadata once per store);
            costs one SHA-256 of the reflections read, about 1 % of a map synthesis.

        Returns
        -------
        hkl : list of numpy.ndarray
            Per row, (n, 3) int16 Miller indices.
        F : list of numpy.ndarray
            Per row, (n,) complex64 structure factors.

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
        """Read the atoms of one row: element symbols, names, residue positions, xyz (Å).

        Parameters
        ----------
        row : int
            Store row.
        verify : bool
            Raise :class:`crysbench.integrity.IntegrityError` for an unreadable chunk,
            element 0, an empty name or non-finite coordinates.

        Returns
        -------
        dict
            ``element``, ``name`` (str arrays), ``residue`` (int32), ``xyz`` ((n, 3) float64).
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
            "element": np.array([ELEMENT_NAMES.get(int(x), "X") for x in raw["element"]]),
            "name": np.array([bytes(n).rstrip(b"\0").decode() for n in raw["name"]]),
            "residue": raw["residue"].astype(np.int32),
            "xyz": raw["xyz"].astype(np.float64),
        }
