"""Map-quality metrics: Pearson correlation, phase error by shell, one example's metrics.

Pure functions on NumPy arrays, usable inside training loops (torch variants import torch
lazily: ``import crysbench.metrics`` never imports torch). The origin and hand search
live in :mod:`crysbench.alignment` and are importable from here (``origin_search``,
``align_origin_hand``). Conventions are :mod:`crysbench.reciprocal`'s (CCP4 / gemmi)::

    ρ(x) = (1/V) Σ_h F(h) exp(-2πi h·x)        F(h) = (V/N) Σ_x ρ(x) exp(+2πi h·x)

Reflections are the canonical half sphere of :func:`crysbench.maps.miller_indices`
(one of each Friedel pair, no F000), so every metric counts each Friedel pair once.

Phase errors follow CCP4 ``cphasematch``: Δφ is wrapped to [0°, 180°]; the unweighted mean
is ``mean(Δφ)``, the amplitude-weighted mean is ``Σ w Δφ / Σ w`` with ``w = |F_true|``.
A reflection whose predicted amplitude is exactly zero has phase 0 by convention.

Examples
--------
>>> import numpy as np
>>> from crysbench.metrics import phase_error, pearson
>>> F = np.exp(1j * np.deg2rad([10.0, 50.0, -170.0]))
>>> G = F * np.exp(1j * np.deg2rad(30.0))
>>> round(phase_error(G, F), 6)
30.0
>>> round(pearson([1.0, 2.0, 3.0], [2.0, 4.0, 6.5]), 4)
0.9979
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from crysbench.alignment import align_origin_hand, origin_search
from crysbench.reciprocal import HalfSphereGrid

__all__ = [
    "pearson",
    "map_to_sf",
    "phase_difference",
    "phase_error",
    "shell_edges_equal_count",
    "shell_index_equal_count",
    "fixed_shell_edges",
    "assign_shells",
    "phase_error_by_shell",
    "origin_search",
    "align_origin_hand",
    "example_metrics",
    "pearson_torch",
    "phase_error_torch",
]


# --------------------------------------------------------------------------- basic metrics
def pearson(a: np.ndarray | Sequence[float], b: np.ndarray | Sequence[float]) -> float:
    """Pearson correlation of two arrays of equal size (flattened, float64).

    Returns NaN when either array is constant.
    """
    x = np.asarray(a).ravel()
    y = np.asarray(b).ravel()
    if x.shape != y.shape:
        raise ValueError(f"pearson: sizes differ ({x.size} vs {y.size})")
    # float32 maps stay float32 (pairwise sums accumulated in float64); elementwise sums,
    # not BLAS dot, whose threads oversubscribe busy cores
    ft = np.float32 if x.dtype == np.float32 and y.dtype == np.float32 else np.float64
    x = x.astype(ft, copy=False) - ft(x.mean(dtype=np.float64))
    y = y.astype(ft, copy=False) - ft(y.mean(dtype=np.float64))
    sxx = float(np.sum(x * x, dtype=np.float64))
    syy = float(np.sum(y * y, dtype=np.float64))
    den = math.sqrt(sxx * syy)
    return float(np.sum(x * y, dtype=np.float64)) / den if den > 0 else float("nan")


def map_to_sf(density: np.ndarray, cell_or_volume, hkl: np.ndarray, workers: int = 1) -> np.ndarray:
    """Structure factors of a map on its grid, at the given reflections.

    ``F(h) = (V/N) Σ_x ρ(x) exp(+2πi h·x)``, the inverse of :func:`crysbench.maps.synthesize`
    for reflections inside the grid's Nyquist box
    (:meth:`crysbench.reciprocal.HalfSphereGrid.from_map`).

    Parameters
    ----------
    density : ndarray, shape=(nu, nv, nw) or (b, nu, nv, nw)
        Map (e/Å³ or any unit) indexed [u, v, w] along a, b, c.
    cell_or_volume : gemmi.UnitCell or float
        The cell, or its volume V (Å³).
    hkl : ndarray, shape=(m, 3)
        Reflections with ``l ≥ 0`` (canonical half sphere).

    Returns
    -------
    ndarray, shape=(m,) or (b, m), complex
        Structure factors (map unit × Å³; electrons for a map in e/Å³); complex64 for a
        float32 map, complex128 for a float64 one.

    Examples
    --------
    >>> import numpy as np
    >>> hkl = np.array([[1, 0, 0]])
    >>> u = np.arange(8)[:, None, None] / 8
    >>> rho = np.broadcast_to(np.cos(2 * np.pi * u - 0.5), (8, 4, 4))  # (2|F|/V) cos(2πhx − φ)
    >>> F = map_to_sf(rho, 2.0, hkl)
    >>> round(float(abs(F[0])), 6), round(float(np.angle(F[0])), 6)
    (1.0, 0.5)
    """
    volume = float(getattr(cell_or_volume, "volume", cell_or_volume))
    rho = np.asarray(density)
    return HalfSphereGrid.cached(hkl, rho.shape[-3:]).from_map(rho, volume, workers=workers)


def phase_difference(F_pred: np.ndarray, F_true: np.ndarray) -> np.ndarray:
    """|Δφ| in degrees, wrapped to [0, 180], per reflection.

    A reflection whose predicted (or true) structure factor is exactly zero has no phase;
    it counts as 90°, the mean |Δφ| of a random phase (``np.angle(0)`` would read 0° or
    180° from the sign of zero, and a zero map would score 45°).

    Examples
    --------
    >>> phase_difference(np.array([1j, 0j, -0j]), np.array([1 + 0j, 1, 1])).tolist()
    [90.0, 90.0, 90.0]
    """
    prod = np.asarray(F_pred) * np.conj(np.asarray(F_true))
    d = np.abs(np.degrees(np.angle(prod)))
    return np.where(prod == 0, 90.0, d)


def phase_error(F_pred: np.ndarray, F_true: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Mean absolute phase difference (degrees), optionally weighted.

    Parameters
    ----------
    F_pred, F_true : ndarray, shape=(m,), complex
    weights : ndarray, shape=(m,), optional
        E.g. ``abs(F_true)`` for cphasematch's amplitude-weighted error.

    Returns
    -------
    float
        Degrees in [0, 180]; NaN for an empty set.
    """
    d = phase_difference(F_pred, F_true)
    if d.size == 0:
        return float("nan")
    if weights is None:
        return float(d.mean())
    w = np.asarray(weights, dtype=np.float64)
    sw = float(w.sum())
    return float((w * d).sum() / sw) if sw > 0 else float("nan")


# --------------------------------------------------------------------------- shells
def shell_index_equal_count(inv_d2: np.ndarray, n_shells: int = 12) -> np.ndarray:
    """Shell index (0 … n_shells-1) of each reflection, equal counts in 1/d² (±1).

    Reflections are ranked by 1/d² (stable sort, so ties are split deterministically) and
    cut into ``n_shells`` consecutive groups whose sizes differ by at most one.

    >>> shell_index_equal_count(np.array([0.3, 0.1, 0.2, 0.4]), 2).tolist()
    [1, 0, 0, 1]
    """
    s = np.asarray(inv_d2)
    m = s.size
    order = np.argsort(s, kind="stable")
    idx = np.empty(m, dtype=np.intp)
    # group g holds ranks [floor(g·m/n), floor((g+1)·m/n))
    idx[order] = (np.arange(m) * n_shells) // max(m, 1)
    return idx


def shell_edges_equal_count(inv_d2: np.ndarray, n_shells: int = 12) -> np.ndarray:
    """Edges (1/d², Å⁻²) of ``n_shells`` equal-count shells, shape=(n_shells+1,).

    Edge ``i`` (0 < i < n) lies halfway between the last 1/d² of shell ``i-1`` and the first
    of shell ``i`` (see :func:`shell_index_equal_count`); the outer edges are the minimum and
    maximum 1/d².

    >>> shell_edges_equal_count(np.array([0.1, 0.2, 0.3, 0.4]), 2).tolist()
    [0.1, 0.25, 0.4]
    """
    s = np.sort(np.asarray(inv_d2, dtype=np.float64))
    m = s.size
    if m == 0:
        return np.full(n_shells + 1, np.nan)
    edges = [s[0]]
    for g in range(1, n_shells):
        start = -(-g * m // n_shells)  # first rank of shell g
        start = min(max(start, 1), m - 1)
        edges.append(0.5 * (s[start - 1] + s[start]))
    edges.append(s[-1])
    return np.asarray(edges)


def fixed_shell_edges(dmin: float, n_shells: int = 12, dmax: float | None = None) -> np.ndarray:
    """Shared shell edges in 1/d² (Å⁻²) for aggregating examples, shape=(n_shells+1,).

    Equal steps in 1/d³ (equal reciprocal-space volume, hence equal expected reflection
    counts) from ``1/dmax`` (0 by default) to ``1/dmin``. The outer edge is widened by 1e-9
    so reflections exactly at dmin are included.

    >>> e = fixed_shell_edges(2.0, 2)
    >>> round(float(e[1]), 4), round(float(e[2]), 4)
    (0.1575, 0.25)
    """
    lo = 0.0 if dmax is None else 1.0 / dmax**3
    hi = 1.0 / dmin**3
    s3 = np.linspace(lo, hi, n_shells + 1)
    edges = s3 ** (2.0 / 3.0)
    edges[-1] *= 1.0 + 1e-9
    return edges


def assign_shells(inv_d2: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Shell index of each reflection for given edges (shell i is (e_i, e_{i+1}]; -1 outside).

    The first shell also includes its lower edge.
    """
    s = np.asarray(inv_d2)
    e = np.asarray(edges)
    idx = np.searchsorted(e, s, side="left") - 1
    idx[s == e[0]] = 0
    idx[(s < e[0]) | (s > e[-1])] = -1
    return idx


def phase_error_by_shell(
    F_pred: np.ndarray,
    F_true: np.ndarray,
    inv_d2: np.ndarray,
    edges: np.ndarray | None = None,
    n_shells: int = 12,
) -> list[dict]:
    """Phase error per resolution shell, as cphasematch tabulates it.

    Parameters
    ----------
    F_pred, F_true : ndarray, shape=(m,), complex
    inv_d2 : ndarray, shape=(m,)
        1/d² (Å⁻²) of each reflection.
    edges : ndarray, optional
        Fixed shell edges in 1/d² (e.g. :func:`fixed_shell_edges`). Default: ``n_shells``
        equal-count shells of this example (:func:`shell_index_equal_count`).

    Returns
    -------
    list of dict
        One per shell: ``lo``, ``hi`` (1/d² edges, Å⁻²), ``d_lo``, ``d_hi`` (Å), ``n``
        (reflections), ``phase_error`` and ``phase_error_weighted`` (degrees, weight
        |F_true|; None for an empty shell).
    """
    s = np.asarray(inv_d2, dtype=np.float64)
    d = phase_difference(F_pred, F_true)
    w = np.abs(np.asarray(F_true)).astype(np.float64)
    if edges is None:
        idx = shell_index_equal_count(s, n_shells)
        edges = shell_edges_equal_count(s, n_shells)
    else:
        edges = np.asarray(edges, dtype=np.float64)
        idx = assign_shells(s, edges)
    nsh = len(edges) - 1
    n = np.bincount(idx[idx >= 0], minlength=nsh)
    sd = np.bincount(idx[idx >= 0], weights=d[idx >= 0], minlength=nsh)
    swd = np.bincount(idx[idx >= 0], weights=(w * d)[idx >= 0], minlength=nsh)
    sw = np.bincount(idx[idx >= 0], weights=w[idx >= 0], minlength=nsh)
    out = []
    for i in range(nsh):
        lo, hi = float(edges[i]), float(edges[i + 1])
        out.append(
            {
                "lo": lo,
                "hi": hi,
                "d_lo": (1.0 / math.sqrt(lo)) if lo > 0 else None,
                "d_hi": 1.0 / math.sqrt(hi) if hi > 0 else None,
                "n": int(n[i]),
                "phase_error": float(sd[i] / n[i]) if n[i] else None,
                "phase_error_weighted": float(swd[i] / sw[i]) if sw[i] > 0 else None,
            }
        )
    return out


# --------------------------------------------------------------------------- one example
def example_metrics(
    pred_map: np.ndarray,
    true_map: np.ndarray,
    F_true: np.ndarray,
    hkl: np.ndarray,
    cell,
    shared_edges: np.ndarray | None = None,
    n_shells: int = 12,
    origin_search: bool = False,
    hand_search: bool = False,
) -> dict:
    """All scalar and per-shell metrics of one predicted map (no refinement).

    Parameters
    ----------
    pred_map, true_map : ndarray, shape=(nu, nv, nw)
    F_true : ndarray, shape=(m,), complex
        True structure factors at ``hkl`` (electrons).
    hkl : ndarray, shape=(m, 3)
    cell : gemmi.UnitCell
    shared_edges : ndarray, optional
        Fixed shell edges (1/d²) shared by all examples.
    origin_search, hand_search : bool
        Also report metrics after aligning origin and/or hand (the ``*_aligned`` keys);
        the headline values stay those before alignment.

    Returns
    -------
    dict
        ``pearson``, ``amplitude_pearson``, ``phase_error``, ``phase_error_weighted``
        (degrees), ``shells`` (equal-count, see :func:`phase_error_by_shell`),
        ``shared_shells`` (per shared edge), and with a search ``phase_error_aligned``,
        ``phase_error_weighted_aligned``, ``shells_aligned``, ``shared_shells_aligned``,
        ``origin_shift``, ``inverted``; also ``F_pred`` (complex, not JSON).
    """
    from crysbench.maps import inv_d2 as _inv_d2

    Fp = map_to_sf(pred_map, cell, hkl)
    Ft = np.asarray(F_true, dtype=np.complex128)
    s = _inv_d2(cell, hkl)
    w = np.abs(Ft)
    out = {
        "pearson": pearson(pred_map, true_map),
        "amplitude_pearson": pearson(np.abs(Fp), w),
        "phase_error": phase_error(Fp, Ft),
        "phase_error_weighted": phase_error(Fp, Ft, w),
        "shells": phase_error_by_shell(Fp, Ft, s, n_shells=n_shells),
    }
    if shared_edges is not None:
        out["shared_shells"] = phase_error_by_shell(Fp, Ft, s, edges=shared_edges)
    if origin_search or hand_search:
        Fa, t, inv = align_origin_hand(Fp, Ft, hkl, origin=origin_search, hand=hand_search)
        out["phase_error_aligned"] = phase_error(Fa, Ft)
        out["phase_error_weighted_aligned"] = phase_error(Fa, Ft, w)
        out["shells_aligned"] = phase_error_by_shell(Fa, Ft, s, n_shells=n_shells)
        if shared_edges is not None:
            out["shared_shells_aligned"] = phase_error_by_shell(Fa, Ft, s, edges=shared_edges)
        out["origin_shift"] = [float(x) for x in t]
        out["inverted"] = bool(inv)
    out["F_pred"] = Fp
    return out


# --------------------------------------------------------------------------- torch
def pearson_torch(pred, target, dim=(-3, -2, -1), eps: float = 1e-12):
    """Differentiable Pearson correlation over ``dim`` (torch tensors; batched).

    Returns a tensor with ``dim`` reduced, e.g. shape (b,) for maps (b, nu, nv, nw).
    """
    import torch  # lazy: crysbench must not import torch

    p = pred - pred.mean(dim=dim, keepdim=True)
    t = target - target.mean(dim=dim, keepdim=True)
    num = (p * t).sum(dim=dim)
    den = torch.sqrt((p * p).sum(dim=dim) * (t * t).sum(dim=dim) + eps)
    return num / den


def phase_error_torch(F_pred, F_true, weights=None, dim: int = -1):
    """Mean |Δφ| in degrees of complex torch tensors along ``dim`` (optionally weighted).

    Not differentiable at Δφ = 0 or 180°; meant for monitoring.
    """
    import torch  # lazy

    d = torch.angle(F_pred * torch.conj(F_true)).abs() * (180.0 / math.pi)
    if weights is None:
        return d.mean(dim=dim)
    return (weights * d).sum(dim=dim) / weights.sum(dim=dim)
