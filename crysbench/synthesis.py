"""Batched Fourier syntheses of both maps of a bucket batch, on one core (numpy/scipy).

The loader's hot path. For examples sharing one grid, the reflections of the whole
batch are scattered into one half-complex grid with a single fancy assignment (no
per-example Python loop) and transformed by a *pruned* inverse FFT: the reflections to
dmin fill only ``|h| ≤ H``, ``|k| ≤ K``, ``l ≤ L`` of the grid (about a third of each
axis at the const-res sampling rate), so the transforms along u and v skip the empty
rows. The result equals :func:`crysbench.maps.synthesize` to float32 rounding
(single-precision transforms throughout; the maps stay exact to float32).

The torch version (:func:`crysbench.torchdata.synthesize_torch`) follows the same
conventions on any device.

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
import scipy.fft

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


def _block_index(refl: BatchReflections, shape: tuple[int, int, int]) -> tuple:
    """Flat positions of +h (all) and -h (l = 0 only) in the compact block, cached.

    The block is (b, nu, kb, L + 1) with ``kb = min(2K + 1, nv)``: k rows beyond ±K and l
    columns beyond L of the half-complex grid are empty before the transforms.
    """
    cache = refl.__dict__.setdefault("_index_cache", {})
    if shape not in cache:
        nu, nv, _ = shape
        hkl = refl.hkl
        K = int(np.abs(hkl[:, 1]).max()) if len(hkl) else 0
        L = int(hkl[:, 2].max()) if len(hkl) else 0
        kb = min(2 * K + 1, nv)
        # int32 arithmetic while the block's flat size allows it (it always does in practice)
        it = np.int32 if refl.size * nu * kb * (L + 1) < 2**31 else np.int64
        h, k, l = (hkl[:, i].astype(it) for i in range(3))
        b = refl.batch.astype(it, copy=False)
        hu = h + it(nu) * (h < 0)  # h mod nu for |h| < nu, without a division
        kk = k + it(kb) * (k < 0)
        pos = ((b * it(nu) + hu) * it(kb) + kk) * it(L + 1) + l
        zero = np.nonzero(l == 0)[0]
        hz, kz = -h[zero], -k[zero]
        hz += it(nu) * (hz < 0)
        kz += it(kb) * (kz < 0)
        neg = ((b[zero] * it(nu) + hz) * it(kb) + kz) * it(L + 1)
        cache[shape] = (pos, zero, neg, K, L, kb)
    return cache[shape]


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
    nu, nv, nw = shape
    if len(refl.hkl) == 0:
        return np.zeros((refl.size, *shape), dtype=np.float32)
    pos, zero, neg, K, L, kb = _block_index(refl, shape)
    c = coef.astype(np.complex64, copy=False)
    block = np.zeros((refl.size, nu, kb, L + 1), dtype=np.complex64)
    flat = block.reshape(-1)
    # exp(-2πi h·x) C(h) summed over ±h equals irfft of conj(C) placed at +h
    flat[pos] = np.conj(c)
    flat[neg] = c[zero]
    # pruned inverse transform: along u on the occupied (k, l) block only, then along v
    # on l ≤ L only, then the real transform along w (irfft zero-pads l > L)
    block = scipy.fft.ifft(block, axis=1, workers=1, overwrite_x=True)
    if kb < nv:
        mid = np.zeros((refl.size, nu, nv, L + 1), dtype=np.complex64)
        mid[:, :, : K + 1] = block[:, :, : K + 1]
        mid[:, :, nv - K :] = block[:, :, K + 1 :]
        del block
    else:
        mid = block
    mid = scipy.fft.ifft(mid, axis=2, workers=1, overwrite_x=True)
    out = scipy.fft.irfft(mid, n=nw, axis=3, workers=1, overwrite_x=True)
    del mid
    scale = (nu * nv * nw / np.asarray(volumes, dtype=np.float64)).astype(np.float32)
    out *= scale[:, None, None, None]
    return out.astype(np.float32, copy=False)
