"""Structure factors and Fourier syntheses (SPEC §3.6–3.7).

Conventions (CCP4 / gemmi): ``F(h) = Σ_j f_j(s) exp(-B s²/4) exp(+2πi h·x_j)`` and

    ρ(x) = (1/V) Σ_{h ≠ 0, d(h) ≥ dmin} F(h) exp(-2πi h·x)

so maps have zero mean (no F000) and density is in e/Å³. The Patterson map is the
same synthesis with coefficients |F(h)|², its peak at the origin.

Reflections are kept as a canonical half sphere (one of each Friedel pair, F000
left out), in C order of (h, k, l) over the box |h| ≤ H, |k| ≤ K, 0 ≤ l ≤ L with
``l > 0``, or ``l = 0, k > 0``, or ``l = k = 0, h > 0`` — see
:func:`miller_indices`. Stored reflections are enough to rebuild both maps exactly.

Structure factors come from gemmi's ``DensityCalculatorX`` (IT92 X-ray scattering
factors, as ``gemmi sfcalc``): atoms are put on a fine grid with a compensating
blur and Fourier transformed; the blur is removed per reflection. The maps are
then synthesised on the example grid by an inverse real FFT, so a coarse output
grid (var-res) does not degrade the structure factors. Placing the half sphere on the
FFT grid (Friedel mates, the l = 0 plane, the N/V scale) is
:class:`crysbench.reciprocal.HalfSphereGrid`'s job; the syntheses here are thin
wrappers of it.

Examples
--------
>>> import gemmi, numpy as np
>>> from crysbench.maps import miller_indices, grid_shape
>>> cell = gemmi.UnitCell(10, 12, 14, 90, 90, 90)
>>> hkl = miller_indices(cell, 2.0)
>>> hkl.shape[1], bool((hkl != 0).any(axis=1).all())
(3, True)
>>> grid_shape(cell, 1.5, 3.0)
(20, 24, 30)
"""

from __future__ import annotations

import math

import gemmi
import numpy as np

from crysbench.reciprocal import HalfSphereGrid, good_fft_size

__all__ = [
    "good_fft_size",
    "grid_shape",
    "miller_indices",
    "inv_d2",
    "structure_factors",
    "synthesize",
    "synthesize_many",
    "density_map",
    "patterson_map",
    "shell_errors",
]


def _index_limits(cell: gemmi.UnitCell, dmin: float) -> tuple[int, int, int]:
    # |h| ≤ |a|/dmin, the bound used by CCP4 for the largest index on each axis
    return (int(cell.a / dmin), int(cell.b / dmin), int(cell.c / dmin))


def grid_shape(cell: gemmi.UnitCell, dmin: float, rate: float) -> tuple[int, int, int]:
    """Grid size with spacing ≤ dmin/rate along each axis, FFT-friendly (CCP4 sense).

    The size along an axis of length L is the smallest good FFT size ≥ rate·L/dmin
    and ≥ 2·h_max + 1, so the synthesis to dmin never aliases.
    """
    out = []
    for length, hmax in zip((cell.a, cell.b, cell.c), _index_limits(cell, dmin)):
        target = max(math.ceil(rate * length / dmin - 1e-9), 2 * hmax + 1)
        out.append(good_fft_size(target))
    return tuple(out)


def inv_d2(cell: gemmi.UnitCell, hkl: np.ndarray) -> np.ndarray:
    """1/d² (Å⁻²) of Miller indices, shape=(m,)."""
    frac = np.array(cell.frac.mat.tolist())  # rows: fractionalization matrix
    s = hkl.astype(np.float64) @ frac  # reciprocal-space vectors (Å⁻¹)
    return np.einsum("ij,ij->i", s, s)


def miller_indices(cell: gemmi.UnitCell, dmin: float, return_inv_d2: bool = False):
    """Canonical half sphere of reflections with d ≥ dmin, F000 excluded.

    Parameters
    ----------
    cell : gemmi.UnitCell
    dmin : float
        Resolution limit (Å).
    return_inv_d2 : bool
        Also return 1/d² of each reflection.

    Returns
    -------
    hkl : ndarray, shape=(m, 3), dtype=int16
    inv_d2 : ndarray, shape=(m,), only with ``return_inv_d2``
    """
    H, K, L = _index_limits(cell, dmin)
    g = np.array(cell.frac.mat.tolist())
    g = g @ g.T  # reciprocal metric tensor: 1/d² = hᵀ G* h
    h = np.arange(-H, H + 1, dtype=np.float64)[:, None, None]
    k = np.arange(-K, K + 1, dtype=np.float64)[None, :, None]
    l = np.arange(0, L + 1, dtype=np.float64)[None, None, :]
    # the quadratic form by broadcasting over the box (no (n, 3) index stack)
    s2 = (
        g[0, 0] * h * h
        + g[1, 1] * k * k
        + g[2, 2] * l * l
        + 2 * g[0, 1] * h * k
        + 2 * g[0, 2] * h * l
        + 2 * g[1, 2] * k * l
    )
    keep = s2 <= 1.0 / (dmin * dmin)
    # canonical half: l > 0, or l = 0 and (k > 0, or k = 0 and h > 0)
    keep[:, :K, 0] = False
    keep[: H + 1, K, 0] = False
    hi, ki, li = np.nonzero(keep)
    hkl = np.stack([hi - H, ki - K, li], axis=1).astype(np.int16)
    if return_inv_d2:
        return hkl, s2[hi, ki, li]
    return hkl


def structure_factors(
    structure: gemmi.Structure, dmin: float, rate: float, cutoff: float
) -> tuple[np.ndarray, np.ndarray]:
    """X-ray structure factors of the first model, P1, to dmin.

    Parameters
    ----------
    structure : gemmi.Structure
        With its cell set; space group is taken as P 1.
    dmin : float
        Resolution limit (Å).
    rate : float
        gemmi's oversampling rate of the internal grid (spacing dmin/(2·rate)); the
        recipe's ``sf_rate`` (:class:`crysbench.variants.Variant`).
    cutoff : float
        Density (e/Å³) below which an atom's contribution is not computed; the recipe's
        ``sf_cutoff``.

    Returns
    -------
    hkl : ndarray, shape=(m, 3), dtype=int16
    F : ndarray, shape=(m,), dtype=complex64
        Structure factors in electrons.
    """
    dc = gemmi.DensityCalculatorX()
    dc.d_min = dmin
    dc.rate = rate
    dc.cutoff = cutoff
    dc.set_refmac_compatible_blur(structure[0])
    dc.grid.unit_cell = structure.cell
    dc.grid.spacegroup = gemmi.SpaceGroup("P 1")
    dc.put_model_density_on_grid(structure[0])
    rgrid = gemmi.transform_map_to_f_phi(dc.grid, half_l=True)
    arr = np.asarray(rgrid.array)
    hkl, s2 = miller_indices(structure.cell, dmin, return_inv_d2=True)
    nu, nv, _ = arr.shape
    F = arr[hkl[:, 0] % nu, hkl[:, 1] % nv, hkl[:, 2]]
    if dc.blur != 0:
        F = F * np.exp(dc.blur * 0.25 * s2)
    return hkl, F.astype(np.complex64)


def synthesize(
    hkl: np.ndarray,
    coefficients: np.ndarray,
    shape: tuple[int, int, int],
    volume: float,
) -> np.ndarray:
    """Real-space synthesis ``(1/V) Σ_h C(h) exp(-2πi h·x)`` over the full sphere.

    ``coefficients`` hold one value per reflection of the canonical half sphere;
    Friedel mates get the complex conjugate. A leading batch axis is allowed:
    ``coefficients`` of shape (b, m) give maps of shape (b, *shape) in one FFT.

    Parameters
    ----------
    hkl : ndarray, shape=(m, 3)
    coefficients : ndarray, shape=(m,) or (b, m), complex or real
    shape : tuple of int
        Grid (nu, nv, nw) along a, b, c.
    volume : float
        Cell volume (Å³).

    Returns
    -------
    ndarray, shape=shape or (b, *shape), dtype=float32
    """
    return HalfSphereGrid.cached(hkl, shape).to_map(coefficients, volume)


def density_map(
    hkl: np.ndarray, F: np.ndarray, cell: gemmi.UnitCell, shape: tuple[int, int, int]
) -> np.ndarray:
    """Electron density (e/Å³, zero mean) on a grid, shape=(nu, nv, nw), float32."""
    return synthesize(hkl, F, shape, cell.volume)


def patterson_map(
    hkl: np.ndarray, F: np.ndarray, cell: gemmi.UnitCell, shape: tuple[int, int, int]
) -> np.ndarray:
    """Patterson map (e²/Å³, zero mean, origin peak), shape=(nu, nv, nw), float32."""
    F = np.asarray(F)
    power = (F.real.astype(np.float64) ** 2 + F.imag.astype(np.float64) ** 2).astype(np.float32)
    return synthesize(hkl, power, shape, cell.volume)


def synthesize_many(
    hkls: list[np.ndarray],
    coefficients: list[np.ndarray],
    shape: tuple[int, int, int],
    volumes: np.ndarray,
) -> np.ndarray:
    """Syntheses of several examples sharing one grid shape, in one batched FFT.

    Each example has its own reflections (its own cell and dmin); the result is the
    stack of :func:`synthesize` of each, shape=(b, nu, nv, nw), float32.
    """
    counts = [len(h) for h in hkls]
    hkl = np.concatenate(hkls) if hkls else np.zeros((0, 3), dtype=np.int16)
    coef = np.concatenate([np.asarray(c) for c in coefficients]) if hkls else np.zeros(0)
    rows = np.repeat(np.arange(len(hkls)), counts)
    return HalfSphereGrid(hkl, shape, rows=rows, size=len(hkls)).to_map(coef, volumes)


def shell_errors(
    F: np.ndarray, F_ref: np.ndarray, s2: np.ndarray, n_shells: int = 10
) -> np.ndarray:
    """Amplitude R and phase error of ``F`` against ``F_ref`` in resolution shells.

    Shells hold equal numbers of reflections, in order of 1/d² (the last shell is the
    outermost tenth for ``n_shells=10``).

    Parameters
    ----------
    F, F_ref : ndarray, shape=(m,), complex
    s2 : ndarray, shape=(m,)
        1/d² of each reflection.
    n_shells : int

    Returns
    -------
    ndarray, shape=(n_shells, 4)
        Per shell: d_min of the shell (Å), amplitude R = Σ||F|−|F_ref|| / Σ|F_ref|,
        mean |Δφ| (degrees) and the |F_ref|-weighted mean |Δφ| (degrees).

    Examples
    --------
    >>> F = np.exp(1j * np.linspace(0, 3, 20))
    >>> shell_errors(F * 1.01, F, np.linspace(0.1, 0.4, 20), 2)[:, 1].round(4).tolist()
    [0.01, 0.01]
    """
    order = np.argsort(s2, kind="stable")
    out = np.empty((n_shells, 4))
    for i, idx in enumerate(np.array_split(order, n_shells)):
        a, b = np.abs(F_ref[idx]), np.abs(F[idx])
        dphi = np.degrees(np.abs(np.angle(F[idx] * np.conj(F_ref[idx]))))
        out[i] = (
            1.0 / np.sqrt(s2[idx].max()),
            np.abs(b - a).sum() / a.sum(),
            dphi.mean(),
            (dphi * a).sum() / a.sum(),
        )
    return out
