"""Offline checks against the truth: phase error after the P1 origin and hand search.

Only for validation and tests: the solver never calls these functions. In P1 any
origin shift ``t`` (``φ_h → φ_h + 2π h·t``) and the enantiomer (``φ → −φ``) fit the
same amplitudes, so the predicted phases are first aligned on the true ones with the
evaluator's own origin and hand search (:func:`crysbench.metrics.align_origin_hand`),
so the baseline is judged exactly as ``crysbench evaluate --origin-search --hand-search``
would judge it.

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

from crysbench import metrics

__all__ = ["phase_error"]


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
        Fa, shift, inverted = metrics.align_origin_hand(F_pred, F_true, hkl)
    else:
        Fa, shift, inverted = F_pred, np.zeros(3), False
    return {
        "mpe": float(metrics.phase_error(Fa, F_true)),
        "mpe_weighted": float(metrics.phase_error(Fa, F_true, weights=np.abs(F_true))),
        "shift": shift,
        "inverted": bool(inverted),
    }
