"""Offline checks against the truth: phase error after the P1 origin and hand search.

Only for validation and tests: the solver never calls these functions. In P1 any
origin shift ``t`` (``φ_h → φ_h + 2π h·t``) and the enantiomer (``φ → −φ``) fit the
same amplitudes, so the predicted phases are first aligned on the true ones by the
shift and hand that maximise ``Σ_h |F_t||F_p| cos(φ_t − φ_p − 2π h·t)`` (one inverse
FFT per hand, then a local refinement of ``t``).

Examples
--------
>>> import numpy as np, gemmi
>>> from baselines.shelxd.check import phase_error
>>> cell = gemmi.UnitCell(12, 13, 14, 90, 100, 90)
>>> rng = np.random.default_rng(1)
>>> hkl = np.array([(h, k, l) for h in range(-4, 5) for k in range(-4, 5) for l in range(1, 5)])
>>> x = rng.random((5, 3))
>>> F = np.exp(2j * np.pi * hkl @ x.T).sum(1)
>>> t = np.array([0.3, 0.1, 0.7])
>>> Fs = np.conj(F * np.exp(2j * np.pi * hkl @ t))   # shifted and inverted
>>> round(phase_error(hkl, F, Fs, cell)["mpe"], 3)
0.0
"""

from __future__ import annotations

import gemmi
import numpy as np
import scipy.fft
import scipy.optimize

__all__ = ["phase_error", "align"]


def _score_map(hkl: np.ndarray, coef: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    # Re Σ_{±h} coef(h) exp(-2πi h·t) on a grid of t
    grid = np.zeros((shape[0], shape[1], shape[2]), dtype=np.complex128)
    h, k, l = (hkl[:, i].astype(np.intp) for i in range(3))
    np.add.at(grid, (h % shape[0], k % shape[1], l % shape[2]), np.conj(coef))
    np.add.at(grid, ((-h) % shape[0], (-k) % shape[1], (-l) % shape[2]), coef)
    return scipy.fft.ifftn(grid, workers=1).real * grid.size


def align(
    hkl: np.ndarray, F_true: np.ndarray, F_pred: np.ndarray, allow_inversion: bool = True
) -> tuple[np.ndarray, bool, np.ndarray]:
    """Shift and hand of ``F_pred`` that best match ``F_true``.

    Returns
    -------
    t : ndarray, shape=(3,)
        Fractional origin shift applied to the prediction.
    inverted : bool
        Whether the prediction was inverted (φ → −φ) before shifting.
    F_aligned : ndarray, shape=(m,), complex
        ``F_pred`` (conjugated if inverted) times ``exp(2πi h·t)``.
    """
    hkl = np.asarray(hkl, dtype=np.int64)
    w = np.abs(F_true) * np.abs(F_pred)
    shape = tuple(
        int(scipy.fft.next_fast_len(4 * int(np.abs(hkl[:, i]).max()) + 4)) for i in range(3)
    )
    best = None
    for inv in (False, True) if allow_inversion else (False,):
        Fp = np.conj(F_pred) if inv else F_pred
        coef = F_true * np.conj(Fp)
        c = _score_map(hkl, coef, shape)
        idx = np.unravel_index(int(np.argmax(c)), c.shape)
        t0 = np.array(idx, dtype=float) / np.array(shape)
        dphi = np.angle(F_true) - np.angle(Fp)

        def neg(t: np.ndarray, dphi: np.ndarray = dphi) -> float:
            return -float(np.sum(w * np.cos(dphi - 2 * np.pi * (hkl @ t))))

        res = scipy.optimize.minimize(neg, t0, method="Nelder-Mead",
                                      options={"xatol": 1e-5, "fatol": 1e-9})  # fmt: skip
        t = res.x if res.fun <= neg(t0) else t0
        score = -neg(t)
        if best is None or score > best[0]:
            best = (score, t, inv, Fp)
    _, t, inv, Fp = best
    return np.mod(t, 1.0), inv, Fp * np.exp(2j * np.pi * (hkl @ t))


def phase_error(
    hkl: np.ndarray,
    F_true: np.ndarray,
    F_pred: np.ndarray,
    cell: gemmi.UnitCell | None = None,
    search: bool = True,
) -> dict:
    """Mean absolute phase difference (degrees), unweighted and |F_true|-weighted.

    Parameters
    ----------
    hkl : ndarray, shape=(m, 3)
    F_true, F_pred : ndarray, shape=(m,), complex
    cell : gemmi.UnitCell, optional
        Unused; accepted for symmetry with the evaluator's signature.
    search : bool
        Align origin and hand first (P1).

    Returns
    -------
    dict
        ``mpe``, ``mpe_weighted`` (degrees), ``shift`` (fractional), ``inverted``.
    """
    F_true = np.asarray(F_true)
    F_pred = np.asarray(F_pred)
    if search:
        t, inv, Fa = align(hkl, F_true, F_pred)
    else:
        t, inv, Fa = np.zeros(3), False, F_pred
    d = np.abs(np.angle(F_true * np.conj(Fa)))
    w = np.abs(F_true)
    return {
        "mpe": float(np.degrees(d.mean())),
        "mpe_weighted": float(np.degrees((w * d).sum() / w.sum())),
        "shift": t,
        "inverted": bool(inv),
    }
