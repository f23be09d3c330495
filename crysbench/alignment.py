"""Origin and hand search: aligning predicted structure factors to the truth (P1).

A map is defined up to the choice of origin (any shift t is an equally valid solution in
P1) and, for phases from intensities alone, up to the hand (the enantiomer). These
functions find the shift and hand that best align a prediction with the truth, so metrics
can be reported both as predicted and after alignment (``*_aligned`` keys of
:func:`crysbench.metrics.example_metrics`). Importable from :mod:`crysbench.metrics` too.

The score of a shift t is the weighted mean cosine ``Σ w cos(φ_true − φ_pred + 2π h·t) /
Σ w``; it is evaluated on a grid by one synthesis of
:class:`crysbench.reciprocal.HalfSphereGrid` (the grid is
:func:`crysbench.reciprocal.search_shape`), then refined continuously (BFGS).

Examples
--------
>>> import numpy as np
>>> from crysbench.alignment import origin_search
>>> rng = np.random.default_rng(0)
>>> hkl = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1], [2, -1, 1]])
>>> F = np.exp(2j * np.pi * rng.random(5))
>>> t_true = np.array([0.1, 0.25, 0.7])
>>> t, score = origin_search(F * np.exp(2j * np.pi * (hkl @ t_true)), F, hkl)
>>> bool(np.allclose(t, t_true, atol=1e-6)), round(score, 6)
(True, 1.0)
"""

from __future__ import annotations

import numpy as np
import scipy.optimize

from crysbench.reciprocal import HalfSphereGrid, search_shape

__all__ = ["origin_search", "align_origin_hand"]


def _shift_score(t: np.ndarray, hkl: np.ndarray, c: np.ndarray) -> float:
    # Σ Re(c exp(+2πi h·t)), c = w·F_true·conj(F_pred)/|·|
    ph = 2 * np.pi * (hkl @ t)
    return float((c.real * np.cos(ph) - c.imag * np.sin(ph)).sum())


def origin_search(
    F_pred: np.ndarray,
    F_true: np.ndarray,
    hkl: np.ndarray,
    weights: np.ndarray | None = None,
    oversample: int = 2,
    refine: bool = True,
) -> tuple[np.ndarray, float]:
    """Best origin shift t (fractional) of a prediction against the truth, in P1.

    A prediction ``ρ_p(x) = ρ(x − t)`` has ``F_p(h) = F(h) exp(+2πi h·t)``; this finds the t
    maximising ``Σ w cos(φ_true − φ_pred + 2π h·t)`` (w = |F_true| by default), first on a
    grid oversampled ``oversample`` times relative to the Nyquist grid of ``hkl`` (one FFT),
    then by local continuous refinement.

    Returns
    -------
    t : ndarray, shape=(3,)
        Fractional shift in [0, 1); the aligned prediction is ``F_p · exp(−2πi h·t)``.
    score : float
        The weighted mean cosine at t (1 for a perfect match).
    """
    hkl = np.asarray(hkl)
    Fp = np.asarray(F_pred, dtype=np.complex128)
    Ft = np.asarray(F_true, dtype=np.complex128)
    w = np.abs(Ft) if weights is None else np.asarray(weights, dtype=np.float64)
    prod = Ft * np.conj(Fp)
    mag = np.abs(prod)
    c = np.where(mag > 0, w * prod / np.where(mag > 0, mag, 1.0), 0.0)
    sw = float(w.sum()) or 1.0
    shape = search_shape(hkl, oversample)
    # S(t) = Σ_half Re(c e^{+2πi h·t}) = ½ Σ_{h,-h} conj c(h) e^{-2πi h·t}: the kernel's
    # synthesis of the coefficients conj(c) with V = 2, on the search grid
    grid = HalfSphereGrid.cached(hkl, shape)
    smap = grid.to_map(np.conj(c), volume=2.0, dtype=np.complex128)
    i = np.unravel_index(int(np.argmax(smap)), shape)
    t = np.array(i, dtype=np.float64) / np.array(shape)
    hk = hkl.astype(np.float64)
    if refine and len(hkl):

        def neg(tt: np.ndarray) -> float:
            return -_shift_score(tt, hk, c)

        def grad(tt: np.ndarray) -> np.ndarray:
            ph = 2 * np.pi * (hk @ tt)
            dd = -(c.real * np.sin(ph) + c.imag * np.cos(ph)) * 2 * np.pi
            return -(hk * dd[:, None]).sum(axis=0)

        res = scipy.optimize.minimize(neg, t, jac=grad, method="BFGS", options={"gtol": 1e-8})
        if -res.fun >= _shift_score(t, hk, c):
            t = res.x
    t = np.mod(t, 1.0)
    return t, _shift_score(t, hk, c) / sw


def align_origin_hand(
    F_pred: np.ndarray,
    F_true: np.ndarray,
    hkl: np.ndarray,
    origin: bool = True,
    hand: bool = True,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Align a prediction's structure factors to the truth by origin shift and/or hand.

    In P1 the enantiomer (inversion through any point) has ``F_inv = conj(F)`` up to an
    origin shift, so the hand search tries ``conj(F_pred)`` as well and keeps whichever
    aligns better (by the weighted mean cosine, w = |F_true|).

    Returns
    -------
    F_aligned : ndarray, shape=(m,), complex128
    shift : ndarray, shape=(3,)
        Fractional origin shift applied (zeros without origin search).
    inverted : bool
        True when the enantiomer was chosen.
    """
    hkl = np.asarray(hkl)
    Fp = np.asarray(F_pred, dtype=np.complex128)
    Ft = np.asarray(F_true, dtype=np.complex128)
    w = np.abs(Ft) if weights is None else np.asarray(weights, dtype=np.float64)
    candidates = [(Fp, False)] + ([(np.conj(Fp), True)] if hand else [])
    best = None
    for F, inv in candidates:
        if origin:
            t, score = origin_search(F, Ft, hkl, w)
        else:
            t = np.zeros(3)
            prod = Ft * np.conj(F)
            mag = np.abs(prod)
            cos = np.where(mag > 0, prod.real / np.where(mag > 0, mag, 1.0), 0.0)
            score = float((w * cos).sum() / (w.sum() or 1.0))
        if best is None or score > best[0] + 1e-12:
            best = (score, F, t, inv)
    _, F, t, inv = best
    if origin:
        F = F * np.exp(-2j * np.pi * (hkl.astype(np.float64) @ t))
    return F, t, inv
