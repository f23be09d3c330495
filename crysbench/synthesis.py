"""Batched Fourier syntheses of both maps of a bucket batch, on one core (numpy/scipy).

The loader's hot path. For examples sharing one grid, the reflections of the whole
batch are scattered into one half-complex grid with a single fancy assignment (no
per-example Python loop) and transformed by a *pruned* inverse FFT: the reflections to
dmin fill only ``|h| ≤ H``, ``|k| ≤ K``, ``l ≤ L`` of the grid (about a third of each
axis at the const-res sampling rate), so the transforms along u and v skip the empty
rows. Placement and transforms are :class:`crysbench.reciprocal.HalfSphereGrid`'s (a
ragged grid, ``pruned=True``); the result equals :func:`crysbench.maps.synthesize` to
float32 rounding (single-precision transforms throughout).

The torch version (:func:`crysbench.torchdata.synthesize_torch`) places the
coefficients at the same kernel's flat indices
(:meth:`crysbench.reciprocal.HalfSphereGrid.flat_indices`), shipped to the device.

Examples
--------
>>> import gemmi, numpy as np
>>> from crysbench.maps import miller_indices, synthesize
>>> from crysbench.synthesis import concat_reflections, synthesize_batch
>>> cell = gemmi.UnitCell(20, 22, 24, 90, 90, 90)
>>> hkl = miller_indices(cell, 3.0)
>>> F = np.exp(1j * np.arange(len(hkl))).astype(np.complex64)
>>> batch = concat_reflections([hkl, hkl], [F, 2 * F])
>>> maps = synthesize_batch(batch, (16, 16, 16), np.array([cell.volume] * 2))
>>> ref = synthesize(hkl, 2 * F, (16, 16, 16), cell.volume)
>>> bool(np.allclose(maps[1], ref, atol=1e-5 * float(np.abs(ref).max())))
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from crysbench.reciprocal import HalfSphereGrid

__all__ = ["BatchReflections", "concat_reflections", "power", "synthesize_batch"]


@dataclass
class BatchReflections:
    """The reflections of a batch, concatenated (one row per reflection).

    Attributes
    ----------
    hkl : ndarray, shape=(m, 3), dtype=int16
    F : ndarray, shape=(m,), dtype=complex64
        Structure factors (electrons).
    batch : ndarray, shape=(m,), dtype=int32
        Which example of the batch each reflection belongs to.
    size : int
        Number of examples.
    """

    hkl: np.ndarray
    F: np.ndarray
    batch: np.ndarray
    size: int

    def grid(self, shape: tuple[int, int, int]) -> HalfSphereGrid:
        """The batch's reflections on a common grid (ragged), kept for later calls.

        The density and Patterson syntheses of a batch share one index computation.
        """
        cache = self.__dict__.setdefault("_grids", {})
        key = tuple(int(n) for n in shape)
        if key not in cache:
            cache[key] = HalfSphereGrid(self.hkl, key, rows=self.batch, size=self.size)
        return cache[key]

    @property
    def nbytes(self) -> int:
        """Bytes of hkl, F and batch index (what a device copy ships)."""
        return int(self.hkl.nbytes + self.F.nbytes + self.batch.nbytes)


def concat_reflections(hkls: Sequence[np.ndarray], Fs: Sequence[np.ndarray]) -> BatchReflections:
    """Concatenate per-example reflections into one :class:`BatchReflections`."""
    counts = np.array([len(h) for h in hkls], dtype=np.int64)
    hkl = np.concatenate(hkls).astype(np.int16, copy=False) if len(hkls) else np.zeros((0, 3))
    F = np.concatenate(Fs).astype(np.complex64, copy=False) if len(Fs) else np.zeros(0)
    batch = np.repeat(np.arange(len(counts), dtype=np.int32), counts)
    return BatchReflections(hkl, F, batch, len(counts))


def power(F: np.ndarray) -> np.ndarray:
    """Patterson coefficients ``|F|²``, computed in float64 and rounded to float32.

    Exactly the coefficients :func:`crysbench.maps.patterson_map` uses.
    """
    re = F.real.astype(np.float64)
    im = F.imag.astype(np.float64)
    return (re * re + im * im).astype(np.float32)


def synthesize_batch(
    refl: BatchReflections,
    shape: tuple[int, int, int],
    volumes: np.ndarray,
    coefficients: np.ndarray | None = None,
) -> np.ndarray:
    """``(1/V_b) Σ_h C(h) exp(-2πi h·x)`` of every example of a batch, shape=(b, *shape).

    Parameters
    ----------
    refl : BatchReflections
    shape : tuple of int
        The common grid (nu, nv, nw).
    volumes : ndarray, shape=(b,)
        Cell volume of each example (Å³).
    coefficients : ndarray, shape=(m,), optional
        Per-reflection coefficients; default ``refl.F`` (the density map). Pass
        :func:`power` of ``refl.F`` for the Patterson map.

    Returns
    -------
    ndarray, shape=(b, nu, nv, nw), dtype=float32
    """
    coef = refl.F if coefficients is None else np.asarray(coefficients)
    return refl.grid(shape).to_map(coef, volumes, pruned=True)
