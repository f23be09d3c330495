"""The one reciprocal-space kernel: a half sphere of reflections on an rfft grid (SPEC §3.7).

Every map ↔ structure-factor conversion in crysbench (maps, the loader's batches,
metrics, the origin search, builtin refinement) and in its dual-space baseline goes
through :class:`HalfSphereGrid`, the only placement of reflections on a grid:
:func:`crysbench.torchdata.synthesize_torch` places on the training device at the
kernel's :meth:`~HalfSphereGrid.flat_indices`, and ``baselines.shelxd.dualspace`` takes
its E-maps, tangent formula and projections from it (only its phase-agreement search,
over a full complex grid of origin shifts, is no half-sphere synthesis). The kernel
decides, once, where each reflection of the canonical half sphere
(:func:`crysbench.maps.miller_indices`: one of each Friedel pair, no F000) lands on the
half-complex grid of ``scipy.fft.rfftn`` (shape ``(nu, nv, nw // 2 + 1)``). Conventions
(CCP4 / gemmi)::

    ρ(x) = (1/V) [F000 + Σ_{h, -h} F(h) exp(-2πi h·x)]       F(-h) = conj F(h)
    F(h) = (V/N) Σ_x ρ(x) exp(+2πi h·x)                       N = nu·nv·nw

``irfftn`` computes ``(1/N) Σ G(h) exp(+2πi h·x)`` and supplies the conjugate of every
term with ``0 < l < nw/2`` itself, so the synthesis places ``conj F(h)`` at ``+h``; on the
``l = 0`` plane it adds no mates, so ``F(h)`` is placed at ``-h`` as well (the mates of
``l = 0`` reflections are not in the half sphere, so the two never collide). The map is
``irfftn(G) · N/V``, the N/V scale applied after the transform in the map's precision
(``scale_first=True`` applies it to the coefficients instead: the builtin refinement's
order, equal to rounding, kept so that its results stay bitwise unchanged).
The analysis is ``F(h) = conj(rfftn(ρ)[+h]) · V/N``.

Batches: coefficients may carry leading axes (one map per row, same reflections), or
the object may be *ragged* (``rows``: each reflection belongs to one example of a batch
sharing the grid, as a bucket batch of the loader). Two transforms: the full ``irfftn``
(``pruned=False``, what the stored maps' scales were computed with) and a pruned one
(``pruned=True``, the loader's: the transforms along u and v skip the rows beyond the
largest |k| and l, equal to the full one to float32 rounding).

FFT sizes. Store grids use :func:`good_fft_size` (even, 2·3·5-smooth, CCP4-friendly;
grid shapes are part of the stored bytes, see :func:`crysbench.maps.grid_shape`). The
origin search's working grid (:func:`search_shape`, never stored) keeps
``scipy.fft.next_fast_len`` rounded up to even: changing it would move the grid maximum
that the continuous refinement starts from and change scores in their last digits.

Size: about 445 lines, because the one placement convention and everything that must
agree with it bitwise (both transforms, gather, flat indices for torch and the solver)
live in this one class, tested once in ``tests/test_reciprocal.py``.

Examples
--------
>>> import numpy as np
>>> from crysbench.reciprocal import HalfSphereGrid
>>> hkl = np.array([[1, 0, 0], [0, 1, 0], [-1, 2, 1]])
>>> F = np.array([2 + 1j, 1j, 0.5 - 0.5j])
>>> g = HalfSphereGrid.cached(hkl, (8, 8, 8))
>>> rho = g.to_map(F, volume=100.0, dtype=np.complex128)
>>> bool(np.allclose(g.from_map(rho, 100.0), F))
True
>>> round(float(g.to_map(F, 100.0, f000=50.0, dtype=np.complex128).mean()), 6)  # F000/V
0.5
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import scipy.fft

__all__ = ["HalfSphereGrid", "good_fft_size", "search_shape"]


def good_fft_size(n: int) -> int:
    """Smallest even m ≥ n whose prime factors are 2, 3 and 5 (CCP4-friendly).

    The size policy of every stored grid.

    >>> good_fft_size(45), good_fft_size(49), good_fft_size(1)
    (48, 50, 2)
    """
    m = max(int(n), 2)
    while True:
        if m % 2 == 0:
            r = m
            for p in (2, 3, 5):
                while r % p == 0:
                    r //= p
            if r == 1:
                return m
        m += 1


def search_shape(hkl: np.ndarray, oversample: int = 2) -> tuple[int, int, int]:
    """Working grid of the origin search: ``oversample`` × the Nyquist grid of ``hkl``.

    Per axis the size is ``scipy.fft.next_fast_len(max(oversample·(2·h_max + 1), 4))``
    rounded up to even. Never stored; see the module docstring for why it is not
    :func:`good_fft_size`.

    >>> search_shape(np.array([[3, -2, 1]]))  # next_fast_len(14) is 15, rounded up to 16
    (16, 10, 6)
    """
    hkl = np.asarray(hkl)
    hmax = np.abs(hkl.astype(np.int64)).max(axis=0) if len(hkl) else np.zeros(3, int)
    out = []
    for hm in hmax:
        n = scipy.fft.next_fast_len(int(max(oversample * (2 * hm + 1), 4)), real=True)
        out.append(n + (n % 2))
    return tuple(out)


class HalfSphereGrid:
    """Reflections of the canonical half sphere placed on one rfft grid, both ways.

    Build it once per (reflections, grid) — :meth:`cached` keeps recent ones — and use it
    for any number of syntheses and analyses; the index arithmetic is done once per
    layout (full or pruned).

    Parameters
    ----------
    hkl : ndarray, shape=(m, 3), dtype=int
        Canonical half sphere (``l ≥ 0``; on ``l = 0``, one of each Friedel pair), no F000.
        Indices must lie inside the grid's Nyquist box (``2·|h| < n`` per axis), or
        they alias.
    shape : tuple of int
        Real-space grid (nu, nv, nw) along a, b, c.
    rows : ndarray, shape=(m,), dtype=int, optional
        Ragged batch: the example (0 … size-1) each reflection belongs to; coefficients
        are then one flat array of shape (m,) and maps come out as (size, nu, nv, nw).
    size : int, optional
        Number of examples of a ragged batch (default ``rows.max() + 1``).

    Examples
    --------
    A ragged batch of two examples with different reflections:

    >>> import numpy as np
    >>> a = np.array([[1, 0, 0], [0, 0, 2]]); b = np.array([[0, 1, 1]])
    >>> g = HalfSphereGrid(np.concatenate([a, b]), (6, 6, 6), rows=np.array([0, 0, 1]))
    >>> maps = g.to_map(np.array([1.0, 2j, 3.0]), np.array([10.0, 20.0]))
    >>> maps.shape, bool(np.allclose(HalfSphereGrid(b, (6, 6, 6)).to_map([3.0], 20.0), maps[1]))
    ((2, 6, 6, 6), True)
    """

    def __init__(
        self,
        hkl: np.ndarray,
        shape: Sequence[int],
        rows: np.ndarray | None = None,
        size: int | None = None,
    ):
        self.hkl = np.asarray(hkl)
        self.shape: tuple[int, int, int] = tuple(int(n) for n in shape)
        self.n = self.shape[0] * self.shape[1] * self.shape[2]
        self.rows = None if rows is None else np.asarray(rows)
        if self.rows is not None and size is None:
            size = int(self.rows.max()) + 1 if len(self.rows) else 0
        self.size = None if self.rows is None else int(size)
        self._layouts: dict[bool, tuple] = {}

    @classmethod
    def cached(cls, hkl: np.ndarray, shape: Sequence[int]) -> HalfSphereGrid:
        """The grid of ``(hkl, shape)``, shared with earlier calls for the same values.

        Keyed on the bytes of ``hkl`` (an example's reflections are tens of KB), so the
        density and Patterson syntheses of one example compute the index once.
        """
        h = np.ascontiguousarray(hkl)
        return _cached(h.tobytes(), h.dtype.str, h.shape, tuple(int(n) for n in shape))

    # ------------------------------------------------------------------ index layouts
    def _layout(self, pruned: bool) -> tuple:
        """(block shape, +h positions, l = 0 rows, -h positions), flat over the batch.

        Full layout: the whole half-complex grid (nu, nv, nw//2+1). Pruned layout: the
        block (nu, kb, L+1) with ``kb = min(2K+1, nv)`` (k rows beyond ±K and l columns
        beyond L are empty before the transforms). Ragged positions include the example's
        offset; otherwise they index one map.
        """
        if pruned in self._layouts:
            return self._layouts[pruned]
        nu, nv, nw = self.shape
        hkl = self.hkl
        if pruned:
            K = int(np.abs(hkl[:, 1]).max()) if len(hkl) else 0
            L = int(hkl[:, 2].max()) if len(hkl) else 0
            cols, depth = min(2 * K + 1, nv), L + 1
        else:
            K, L, cols, depth = None, None, nv, nw // 2 + 1
        count = 1 if self.rows is None else self.size
        # int32 arithmetic while the block's flat size allows it (it always does in practice)
        it = np.int32 if count * nu * cols * depth < 2**31 else np.int64
        h, k, l = (hkl[:, i].astype(it) for i in range(3))
        b = it(0) if self.rows is None else self.rows.astype(it, copy=False)
        zero = np.nonzero(l == 0)[0]
        hz, kz = -h[zero], -k[zero]
        if pruned:  # h mod n for |h| < n, without a division
            hu, kk = h + it(nu) * (h < 0), k + it(cols) * (k < 0)
            hz += it(nu) * (hz < 0)
            kz += it(cols) * (kz < 0)
        else:  # the full grid wraps any index, as an FFT does
            hu, kk, hz, kz = h % it(nu), k % it(cols), hz % it(nu), kz % it(cols)
        pos = ((b * it(nu) + hu) * it(cols) + kk) * it(depth) + l
        bz = b if self.rows is None else b[zero]
        neg = ((bz * it(nu) + hz) * it(cols) + kz) * it(depth)
        self._layouts[pruned] = ((nu, cols, depth), pos, zero, neg, K, L)
        return self._layouts[pruned]

    def flat_indices(self, pruned: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Where :meth:`place` puts the reflections: flat positions on the (batch of) grids.

        The placement itself, for code that places coefficients on its own arrays (the
        torch synthesis on the training device, the dual-space baseline's projections).

        Parameters
        ----------
        pruned : bool
            Positions in the pruned block (nu, kb, L+1) instead of the full grid.

        Returns
        -------
        plus : ndarray, shape=(m,), int64
            Flat position of +h (receives ``conj C(h)``); for a ragged grid, in the
            flattened (size, nu, nv, nw//2+1) batch (example offset included), else in
            one map's grid.
        zero : ndarray, shape=(z,), int64
            The reflections on the l = 0 plane (indices into ``hkl``), in order.
        minus : ndarray, shape=(z,), int64
            Flat position of -h for those (receives ``C(h)``).

        Examples
        --------
        >>> import numpy as np
        >>> g = HalfSphereGrid(np.array([[1, 0, 0], [0, 1, 1]]), (4, 4, 4))
        >>> [a.tolist() for a in g.flat_indices()]
        [[12, 4], [0], [36]]
        """
        _, pos, zero, neg, _, _ = self._layout(pruned)
        return pos.astype(np.int64), zero.astype(np.int64), neg.astype(np.int64)

    def _lead(self, coef: np.ndarray) -> tuple[int, ...]:
        return (self.size,) if self.rows is not None else coef.shape[:-1]

    # ------------------------------------------------------------------ placement
    def place(
        self,
        coefficients: np.ndarray,
        dtype: type = np.complex64,
        pruned: bool = False,
        f000: float = 0.0,
        base: np.ndarray | None = None,
    ) -> np.ndarray:
        """Half-complex grid G with ``Σ_{h,-h} C(h) e^{-2πi h·x} = N · irfftn(G)(x)``.

        ``conj C(h)`` at +h for every reflection, ``C(h)`` at -h on the l = 0 plane,
        ``f000`` at the origin; zeros elsewhere (or ``base``'s terms).

        Parameters
        ----------
        coefficients : array_like, shape=(..., m), or (m,) for a ragged grid
            One value per reflection.
        dtype : numpy complex type
            Precision of the grid (complex64 for maps, complex128 for analyses).
        pruned : bool
            The pruned block (nu, kb, L+1) instead of the full grid.
        f000 : float
            The origin term.
        base : ndarray, shape=(nu, nv, nw//2+1), optional
            Terms at the positions the reflections and the origin do not occupy (full
            layout only); copied, not modified.

        Returns
        -------
        ndarray, shape=(B, nu, nv, nw//2+1) (or the pruned block), B = the batch size
            (1 without leading axes), dtype ``dtype``.
        """
        coef = np.asarray(coefficients)
        block, pos, zero, neg, _, _ = self._layout(pruned)
        lead = self._lead(coef)
        B = int(np.prod(lead, dtype=np.int64))
        if base is None:
            grid = np.zeros((B, *block), dtype=dtype)
        else:
            if pruned:
                raise ValueError("place: base needs the full layout")
            grid = np.array(np.broadcast_to(base, (B, *block)), dtype=dtype)
        c = coef.astype(dtype, copy=False)
        if self.rows is not None:
            flat = grid.reshape(-1)
            flat[pos] = np.conj(c)
            flat[neg] = c[zero]
        else:
            flat = grid.reshape(B, -1)
            c = c.reshape(B, -1)
            flat[:, pos] = np.conj(c)
            flat[:, neg] = c[:, zero]
        if f000 or base is not None:
            grid[:, 0, 0, 0] = f000
        return grid

    def _scale(self, volume, lead: tuple[int, ...], real: type) -> np.ndarray:
        v = np.asarray(volume, dtype=np.float64)
        s = (self.n / v).astype(real)
        if s.ndim:  # one scale per map
            s = np.broadcast_to(s, lead).reshape(-1, 1, 1, 1) if lead else s.reshape(())
        return s

    # ------------------------------------------------------------------ the two directions
    def to_map(
        self,
        coefficients: np.ndarray,
        volume: float | np.ndarray,
        f000: float = 0.0,
        dtype: type = np.complex64,
        pruned: bool = False,
        base: np.ndarray | None = None,
        scale_first: bool = False,
    ) -> np.ndarray:
        """Real map ``(1/V)[F000 + Σ_{h,-h} C(h) exp(-2πi h·x)]`` (the density convention).

        Parameters
        ----------
        coefficients : array_like, shape=(..., m), or (m,) for a ragged grid
            One value per reflection (F for a density map, |F|² for a Patterson map);
            Friedel mates get the complex conjugate.
        volume : float or ndarray
            Cell volume (Å³), one per map (broadcast over the leading axes).
        f000 : float
            The origin term (0: zero-mean maps).
        dtype : numpy complex type
            Precision: complex64 → float32 maps (the stored maps), complex128 → float64.
        pruned : bool
            Pruned transform (the loader's), equal to the full one to float32 rounding.
        base : ndarray, shape=(nu, nv, nw//2+1), optional
            ``rfftn`` of a map on this grid whose Fourier terms outside the reflections
            (and F000) are kept in the result, e.g. the terms beyond dmin of a modified
            map (one volume only).
        scale_first : bool
            Apply N/V to the coefficients (and F000) before the transform instead of to
            the map after it, ``base`` left unscaled (one volume only). Equal to rounding;
            the builtin refinement's order, kept so that its results stay bitwise those
            of earlier releases.

        Returns
        -------
        ndarray, shape=(..., nu, nv, nw), or (size, nu, nv, nw) for a ragged grid
            The real maps (float32 or float64, as ``dtype``).
        """
        coef = np.asarray(coefficients)
        lead = self._lead(coef)
        real = np.float32 if np.dtype(dtype) == np.complex64 else np.float64
        if pruned and len(self.hkl) == 0:
            return np.zeros((*lead, *self.shape), dtype=real)
        if scale_first:
            s = self.n / float(volume)
            grid = self.place(coef * s, dtype, pruned, f000 * s, base)
        else:
            if base is not None:  # rfft units → the placed coefficients' units
                base = np.asarray(base) * (float(volume) / self.n)
            grid = self.place(coef, dtype, pruned, f000, base)
        out = self._pruned_irfft(grid) if pruned else self.irfft(grid)
        if not scale_first:
            out *= self._scale(volume, lead, real)
        out = out.astype(real, copy=False)
        return out.reshape(*lead, *self.shape)

    def irfft(self, grid: np.ndarray) -> np.ndarray:
        """The unscaled transform of :meth:`to_map`: ``irfftn`` over the last three axes.

        Parameters
        ----------
        grid : ndarray, shape=(..., nu, nv, nw//2+1)
            Half-complex grids, e.g. from :meth:`place`.

        Returns
        -------
        ndarray, shape=(..., nu, nv, nw)
            ``(1/N) Σ G(h) exp(+2πi h·x)`` (no N/V scale), real.
        """
        return scipy.fft.irfftn(grid, s=self.shape, axes=(-3, -2, -1), workers=1)

    def _pruned_irfft(self, block: np.ndarray) -> np.ndarray:
        # along u on the occupied (k, l) block only, then along v on l ≤ L only, then the
        # real transform along w (irfft zero-pads l > L)
        nu, nv, nw = self.shape
        _, kb, _ = block.shape[1:]
        _, _, _, _, K, L = self._layout(True)
        B = block.shape[0]
        block = scipy.fft.ifft(block, axis=1, workers=1, overwrite_x=True)
        if kb < nv:
            mid = np.zeros((B, nu, nv, L + 1), dtype=block.dtype)
            mid[:, :, : K + 1] = block[:, :, : K + 1]
            mid[:, :, nv - K :] = block[:, :, K + 1 :]
            del block
        else:
            mid = block
        mid = scipy.fft.ifft(mid, axis=2, workers=1, overwrite_x=True)
        return scipy.fft.irfft(mid, n=nw, axis=3, workers=1, overwrite_x=True)

    def gather(self, R: np.ndarray, volume: float | None) -> np.ndarray:
        """Structure factors ``conj(R[+h]) · V/N`` from an rfft R of a map on this grid.

        Parameters
        ----------
        R : ndarray, shape=(..., nu, nv, nw//2+1)
            ``scipy.fft.rfftn`` of maps over their last three axes.
        volume : float or None
            Cell volume (Å³); None: no scale, ``conj(R[+h])`` in rfft units.

        Returns
        -------
        ndarray, shape=(..., m)
            One complex value per reflection (map unit × Å³, or rfft units).
        """
        if self.rows is not None:
            raise ValueError("gather: a ragged grid has no single map to analyse")
        _, pos, _, _, _, _ = self._layout(False)
        flat = R.reshape(*R.shape[:-3], -1)
        # rfftn uses exp(-2πi h·x); conj gives exp(+2πi h·x) for a real map
        out = np.conj(flat[..., pos])
        return out if volume is None else out * (volume / self.n)

    def from_map(self, rho: np.ndarray, volume: float, workers: int = 1) -> np.ndarray:
        """Structure factors ``F(h) = (V/N) Σ_x ρ(x) exp(+2πi h·x)`` at the reflections.

        The inverse of :meth:`to_map` for reflections inside the Nyquist box.

        Parameters
        ----------
        rho : ndarray, shape=(..., nu, nv, nw)
            Maps (e/Å³ or any unit) indexed [u, v, w] along a, b, c.
        volume : float
            Cell volume (Å³).
        workers : int
            Threads of the forward transform.

        Returns
        -------
        ndarray, shape=(..., m), complex (complex64 for float32 maps, else complex128)
            Map unit × Å³: electrons for a map in e/Å³.
        """
        rho = np.asarray(rho)
        if rho.shape[-3:] != self.shape:
            raise ValueError(f"from_map: map shape {rho.shape[-3:]} is not the grid's {self.shape}")
        return self.gather(scipy.fft.rfftn(rho, axes=(-3, -2, -1), workers=workers), volume)


@functools.lru_cache(maxsize=64)
def _cached(
    data: bytes, dtype: str, hkl_shape: tuple[int, ...], shape: tuple[int, int, int]
) -> HalfSphereGrid:
    hkl = np.frombuffer(data, dtype=np.dtype(dtype)).reshape(hkl_shape)
    return HalfSphereGrid(hkl, shape)
