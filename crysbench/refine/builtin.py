"""Builtin density-modification refinement (open stand-in for SHELXE; SPEC §6).

The engine sees what a crystallographer would: the true amplitudes |F_obs| to dmin on an
absolute scale, the cell (P1), the composition (hence F000 and the solvent fraction) and the
starting phases of the prediction. It never sees atom positions or true phases; the truth is
used only afterwards, to score the refined phases.

One cycle (error reduction between the two constraint sets of this setting, see
``docs/metrics.md``, "Refinement engines"):

1. Map on the absolute scale: ``ρ = (1/V)[F000 + Σ |F_obs| e^{iφ} e^{-2πi h·x}]``.
2. Solvent mask from the map itself: Gaussian smoothing (σ_mask, done as a product with
   ``exp(-2π²σ²/d²)`` in reciprocal space, hence correct for oblique cells), then the
   fraction ``s_mask = 1 − k_mask (1 − s_comp)`` of lowest voxels is solvent, where
   ``s_comp = 1 − 1.23 Å³/Da · M / V`` comes from the composition.
3. Solvent flattened to 0 (the solvent is exactly empty here), negative density truncated
   to 0 in the protein region.
4. Back to structure factors; keep |F_obs| and take the modified phases.
   With ``free_lunch`` the modified map's Fourier terms beyond dmin are kept (weight 1) in the
   next map instead of being dropped; they are never scored.

Iterated ``n_cycles`` times (stopping early when the mean phase change of a cycle is below
``tol_deg``). The final map uses the last phases; see :func:`density_modification`.

Success rule (calibrated in ``docs/metrics.md``): after refinement, the amplitude-weighted
mean phase error against the truth, after origin and hand alignment (the refined phases are
defined up to the P1 origin and hand, like the hand-invariant SHELXE trace CC), is
≤ ``success_wmpe`` (40°).

Examples
--------
>>> import numpy as np, crysbench
>>> from crysbench.structures import bundled_entries
>>> from crysbench.refine.builtin import BuiltinEngine
>>> ex = next(crysbench.generate_examples(bundled_entries()["1A8O"], "var-res"))
>>> out = BuiltinEngine(n_cycles=5).refine(ex, ex.F)  # the truth is a fixed point
>>> out["refined"], out["final_phase_error_weighted"] < 5
(True, True)
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import gemmi
import numpy as np
import scipy.fft

from crysbench.maps import inv_d2
from crysbench.metrics import align_origin_hand, phase_error
from crysbench.reciprocal import HalfSphereGrid

__all__ = [
    "BuiltinEngine",
    "DMSettings",
    "density_modification",
    "composition_stats",
    "SUCCESS_WMPE",
]

#: Success threshold (degrees) on the final amplitude-weighted phase error (aligned).
SUCCESS_WMPE = 40.0

_PROTEIN_VOLUME_PER_DA = 1.23  # Å³/Da (Matthews)


@dataclasses.dataclass(frozen=True)
class DMSettings:
    """Parameters of :func:`density_modification` (units in brackets).

    Attributes
    ----------
    n_cycles : int
        Maximum number of cycles.
    sigma_mask : float
        Gaussian smoothing σ for the solvent mask [Å].
    k_mask : float
        Mask looseness: protein fraction = k_mask × composition protein fraction.
    truncate : bool
        Truncate negative density in the protein region.
    free_lunch : bool
        Carry the modified map's terms beyond dmin into the next map.
    tol_deg : float
        Stop when the mean |Δφ| between cycles falls below this [degrees].
    """

    n_cycles: int = 60
    sigma_mask: float = 1.0
    k_mask: float = 1.7
    truncate: bool = True
    free_lunch: bool = False
    tol_deg: float = 0.05


def composition_stats(elements, volume: float) -> tuple[float, float]:
    """F000 (electrons) and solvent fraction from the composition.

    Parameters
    ----------
    elements : sequence of str
        Element symbols of the non-H atoms.
    volume : float
        Cell volume [Å³].

    Returns
    -------
    f000 : float
        Σ Z [electrons].
    s_comp : float
        ``1 − 1.23 Å³/Da · M / V``, clipped to [0.05, 0.98].

    >>> f000, s = composition_stats(["C", "N", "O"], 1000.0)
    >>> f000, round(s, 4)
    (21.0, 0.9483)
    """
    f000 = 0.0
    mass = 0.0
    for e in elements:
        el = gemmi.Element(str(e))
        f000 += el.atomic_number
        mass += el.weight
    s = 1.0 - _PROTEIN_VOLUME_PER_DA * mass / volume
    return float(f000), float(min(max(s, 0.05), 0.98))


def density_modification(
    hkl: np.ndarray,
    f_obs: np.ndarray,
    phi0: np.ndarray,
    cell: gemmi.UnitCell,
    grid_shape: tuple[int, int, int],
    f000: float,
    s_comp: float,
    settings: DMSettings | None = None,
) -> tuple[np.ndarray, dict]:
    """Refine phases by iterated solvent flattening and negative-density truncation.

    Parameters
    ----------
    hkl : ndarray, shape=(m, 3)
        Canonical half sphere of reflections.
    f_obs : ndarray, shape=(m,)
        Observed amplitudes on the absolute scale [electrons].
    phi0 : ndarray, shape=(m,)
        Starting phases [radians].
    cell : gemmi.UnitCell
    grid_shape : tuple of int
        Working grid (at least 2·h_max+1 per axis).
    f000 : float
        Σ Z [electrons].
    s_comp : float
        Solvent fraction from the composition.
    settings : DMSettings, optional

    Returns
    -------
    phi : ndarray, shape=(m,)
        Refined phases [radians].
    info : dict
        ``cycles`` (run), ``last_change_deg`` (mean |Δφ| of the last cycle), ``s_mask``.
    """
    st = settings or DMSettings()
    g = HalfSphereGrid.cached(hkl, grid_shape)
    volume = float(cell.volume)
    fo = np.asarray(f_obs, dtype=np.float64)
    phi = np.asarray(phi0, dtype=np.float64).copy()
    kern = np.exp(-2.0 * math.pi**2 * st.sigma_mask**2 * inv_d2(cell, hkl))
    s_mask = 1.0 - st.k_mask * (1.0 - s_comp)
    s_mask = min(max(s_mask, 0.05), 0.95)
    n_solvent = int(round(s_mask * g.n))
    synth = functools.partial(
        g.to_map, volume=volume, f000=f000, dtype=np.complex128, scale_first=True
    )
    base = None
    change = float("nan")
    cycles = 0
    for cycles in range(1, st.n_cycles + 1):  # noqa: B007
        C = fo * np.exp(1j * phi)
        rho = synth(C, base=base)
        smooth = synth(C * kern).ravel()
        # lowest n_solvent voxels of the smoothed map are solvent
        cut = np.partition(smooth, n_solvent)[n_solvent]
        protein = (smooth > cut).reshape(g.shape)
        mod = np.where(protein, np.maximum(rho, 0.0) if st.truncate else rho, 0.0)
        R = scipy.fft.rfftn(mod, workers=1)
        new = np.angle(g.gather(R, volume))
        change = float(np.degrees(np.abs(np.angle(np.exp(1j * (new - phi))))).mean())
        phi = new
        if st.free_lunch:
            base = R
        if change < st.tol_deg:
            break
    return phi, {"cycles": cycles, "last_change_deg": change, "s_mask": s_mask}


class BuiltinEngine:
    """The ``builtin`` refinement engine: density modification + calibrated success rule.

    Parameters
    ----------
    success_wmpe : float
        Success threshold on the final aligned amplitude-weighted phase error [degrees].
    **dm : Any
        Overrides of :class:`DMSettings` fields.
    """

    name = "builtin"
    version = 1

    def __init__(self, success_wmpe: float = SUCCESS_WMPE, **dm: Any):
        self.dm = DMSettings(**dm)
        self.success_wmpe = float(success_wmpe)

    @property
    def settings(self) -> dict:
        """Engine settings as a JSON dict (recorded in results.json)."""
        return {
            "engine_version": self.version,
            "success_wmpe": self.success_wmpe,
            **dataclasses.asdict(self.dm),
        }

    def modify(self, example: Any, F_pred: np.ndarray) -> tuple[np.ndarray, dict]:
        """Density modification of one prediction, in the prediction's own frame.

        Parameters
        ----------
        example : Example-like
            Needs ``hkl``, ``F`` (only |F| is used), ``cell``, ``grid_shape``, ``elements``.
        F_pred : ndarray, shape=(m,), complex
            The prediction's structure factors at ``example.hkl`` (only phases are used).

        Returns
        -------
        F_ref : ndarray, complex
            ``|F_obs| · exp(i φ_DM)`` at ``example.hkl``.
        info : dict
            ``cycles``, ``last_change_deg``, ``s_mask`` of :func:`density_modification`.
        """
        fo = np.abs(np.asarray(example.F, dtype=np.complex128))
        f000, s_comp = composition_stats(example.elements, example.cell.volume)
        phi, info = density_modification(
            example.hkl, fo, np.angle(F_pred), example.cell, example.grid_shape,
            f000, s_comp, self.dm,
        )  # fmt: skip
        return fo * np.exp(1j * phi), info

    def judge(self, example: Any, F_pred: np.ndarray, F_ref: np.ndarray, cycles: int) -> dict:
        """Score a density-modified map against the truth (the success rule).

        Returns
        -------
        dict
            As :meth:`refine`.
        """
        F_true = np.asarray(example.F, dtype=np.complex128)
        fo = np.abs(F_true)
        Fa, _, inverted = align_origin_hand(F_ref, F_true, example.hkl)
        Fs, _, _ = align_origin_hand(np.asarray(F_pred), F_true, example.hkl)
        wmpe = phase_error(Fa, F_true, fo)
        return {
            "refined": bool(wmpe <= self.success_wmpe),
            "final_phase_error": phase_error(Fa, F_true),
            "final_phase_error_weighted": wmpe,
            "final_inverted": bool(inverted),
            "start_phase_error_weighted": phase_error(Fs, F_true, fo),
            "cycles": int(cycles),
        }

    def refine(self, example: Any, F_pred: np.ndarray) -> dict:
        """Refine one prediction and score it against the truth.

        Parameters
        ----------
        example : Example-like
            Needs ``hkl``, ``F`` (truth: only |F| enters the refinement), ``cell``,
            ``grid_shape``, ``elements``.
        F_pred : ndarray, shape=(m,), complex
            The prediction's structure factors at ``example.hkl`` (only phases are used).

        Returns
        -------
        dict
            ``refined`` (bool), ``final_phase_error`` and ``final_phase_error_weighted``
            (degrees, after origin and hand alignment), ``final_inverted``,
            ``start_phase_error_weighted`` (aligned the same way), ``cycles``.
        """
        F_ref, info = self.modify(example, F_pred)
        return self.judge(example, F_pred, F_ref, info["cycles"])
