"""Normalised structure factors (E values) for P1 data.

In P1 the multiplicity factor ε is 1 for every reflection, so

    |E_h|² = |F_h|² / ⟨|F|²⟩(s),   s² = 1/(4d²)

where ⟨|F|²⟩(s) is estimated as ``Σ_j f_j²(s) · K(s)``: the composition's summed
squared scattering factors (IT92, from gemmi) times a smooth correction ``K`` taken
from equal-count shells in s², with log K interpolated linearly between shell
centres (and extended linearly past the ends). ``K`` absorbs the overall scale and
the B factor, so ⟨|E|²⟩ ≈ 1 in every shell (a "K-curve"), and exactly 1 overall.
For random atoms ⟨||E|²−1|⟩ ≈ 0.736 (acentric).

Examples
--------
>>> import numpy as np, gemmi
>>> from baselines.shelxd.emap import normalize
>>> cell = gemmi.UnitCell(20, 20, 20, 90, 90, 90)
>>> rng = np.random.default_rng(0)
>>> hkl = rng.integers(-10, 11, size=(2000, 3))
>>> amp = rng.rayleigh(size=2000)
>>> E = normalize(hkl, amp, cell)
>>> bool(abs(np.mean(E**2) - 1) < 1e-6)
True
"""

from __future__ import annotations

from collections.abc import Mapping

import gemmi
import numpy as np

from crysbench.maps import inv_d2

__all__ = ["sum_f2", "normalize", "shell_edges"]


def sum_f2(stol2: np.ndarray, composition: Mapping[str, float] | None = None) -> np.ndarray:
    """Σ_j f_j²(s) of a composition at s² = (sinθ/λ)², IT92 X-ray form factors.

    Parameters
    ----------
    stol2 : ndarray, shape=(m,)
        (sinθ/λ)² = 1/(4d²) in Å⁻².
    composition : mapping of str to float, optional
        Element → count. ``None`` means one carbon (only the shape matters).

    Returns
    -------
    ndarray, shape=(m,)
    """
    comp = dict(composition or {"C": 1.0})
    out = np.zeros(len(stol2))
    for el, n in comp.items():
        elem = gemmi.Element(str(el))
        it92 = elem.it92
        if it92 is None:  # unknown element: treat as carbon
            it92 = gemmi.Element("C").it92
        f = np.full(len(stol2), it92.c)
        for a, b in zip(it92.a, it92.b):
            f += a * np.exp(-b * stol2)
        out += float(n) * f * f
    return out


def shell_edges(values: np.ndarray, per_shell: int = 100) -> np.ndarray:
    """Edges of equal-count shells of ``values`` (at least one shell)."""
    n = max(1, int(round(len(values) / per_shell)))
    q = np.quantile(values, np.linspace(0.0, 1.0, n + 1))
    q[0] = -np.inf
    q[-1] = np.inf
    return q


def normalize(
    hkl: np.ndarray,
    amplitudes: np.ndarray,
    cell: gemmi.UnitCell,
    composition: Mapping[str, float] | None = None,
    per_shell: int = 100,
) -> np.ndarray:
    """|E| of P1 reflections from amplitudes |F| (ε = 1).

    Parameters
    ----------
    hkl : ndarray, shape=(m, 3)
    amplitudes : ndarray, shape=(m,)
        |F| (any scale).
    cell : gemmi.UnitCell
    composition : mapping, optional
        Element counts of the cell contents (used for the shape of Σf²).
    per_shell : int
        Reflections per shell of the K-curve.

    Returns
    -------
    ndarray, shape=(m,), dtype=float64
        |E|, with ⟨|E|²⟩ = 1 over all reflections and ≈ 1 in every shell.
    """
    amp = np.abs(np.asarray(amplitudes, dtype=np.float64))
    s2 = inv_d2(cell, np.asarray(hkl)) / 4.0
    f2 = sum_f2(s2, composition)
    ratio = amp**2 / f2
    m = len(amp)
    if m == 0:
        return amp
    order = np.argsort(s2, kind="stable")
    nshell = max(1, int(round(m / per_shell)))
    chunks = np.array_split(order, nshell)
    centres = np.array([s2[c].mean() for c in chunks])
    means = np.array([max(ratio[c].mean(), 1e-30) for c in chunks])
    # log K: piecewise linear in s² through the shell centres, extended linearly
    # beyond the first and last centres (exact for a pure Wilson/B-factor fall-off)
    logk = np.log(means)
    if nshell > 1:
        k = np.interp(s2, centres, logk)
        lo, hi = s2 < centres[0], s2 > centres[-1]
        k[lo] = logk[0] + (s2[lo] - centres[0]) * (logk[1] - logk[0]) / (centres[1] - centres[0])
        k[hi] = logk[-1] + (s2[hi] - centres[-1]) * (logk[-1] - logk[-2]) / (
            centres[-1] - centres[-2]
        )
    else:
        k = np.full(m, logk[0])
    e2 = ratio / np.exp(k)
    e2 /= e2.mean()
    return np.sqrt(e2)
