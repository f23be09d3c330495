"""Solving one example: trials, early stop, the best solution and its predicted map.

The solver is blind: :func:`solve` takes the cell, the reflections' indices and
amplitudes, the resolution, the composition and the output grid, nothing else.
:func:`solve_example` pulls exactly these fields from an Example-like object.

Trials are seeded from ``SeedSequence([crc32(example_id), seed])`` and run in
fixed-size blocks in index order; the solver stops after the first block that holds
a trial passing its own figure of merit. The result therefore depends only on the
example, ``seed``, ``trials`` and ``block`` — not on ``n_jobs``.
"""

from __future__ import annotations

import collections
import dataclasses
import tempfile
import time
import zlib
from collections.abc import Mapping

import gemmi
import numpy as np

from baselines.shelxd import driver
from baselines.shelxd.dualspace import Params, Trial, agreement, prepare, run_trial
from crysbench.maps import synthesize

__all__ = [
    "Solution",
    "AGREEMENT",
    "SHELXD_SOLVED_CFOM",
    "solve",
    "solve_example",
    "composition_of",
    "centre_shift",
    "density_from_phases",
]

#: Two trials whose phases agree this well (|E|-weighted mean cos Δφ after the P1
#: origin/hand search, see :func:`baselines.shelxd.dualspace.agreement`) mark the
#: example as solved by the solver's own figure of merit. Calibrated on 21 bundled
#: 3HSY examples (126 trial pairs): pairs of unsolved trials reached at most 0.26,
#: pairs of solved trials (true phase error < 60°) at least 0.47.
AGREEMENT = 0.45

#: The same for the real ``shelxd`` engine (its CFOM scale; not calibrated here).
SHELXD_SOLVED_CFOM = 80.0


@dataclasses.dataclass
class Solution:
    """Best solution of one example.

    Attributes
    ----------
    id : str
    engine : str
        ``"dualspace"`` or ``"shelxd"``.
    atoms : ndarray, shape=(n, 3)
        Fractional coordinates of the solution's peaks/atoms, after centring.
    phases : ndarray, shape=(m,)
        Phases (radians) of all reflections, after centring.
    density : ndarray, float32, shape=grid_shape
        Predicted map ``(1/V) Σ |F_obs| exp(iφ) exp(-2πi h·x)`` (e/Å³, no F000).
    cfom, cc_all, cc_weak : float
        Figures of merit of the best trial (%).
    solved : bool
        Solved by the solver's own figure of merit: two trials agree (dual-space
        engine), or CFOM ≥ ``SHELXD_SOLVED_CFOM`` (shelxd engine).
    trials : list of dict
        One row per executed trial: trial, cc_all, cc_weak, cfom, r_mod, seconds,
        agree (best agreement with any other executed trial).
    seconds : float
        Wall time of the whole solve.
    shift : ndarray, shape=(3,)
        Fractional origin shift applied for centring.
    hand_margin : float
        L- minus D-template fit of the map (:func:`baselines.shelxd.hand.hand_margin`;
        NaN when the hand decision is off).
    inverted : bool
        The solution's phases were negated by the hand decision.
    """

    id: str
    engine: str
    atoms: np.ndarray
    phases: np.ndarray
    density: np.ndarray
    cfom: float
    cc_all: float
    cc_weak: float
    solved: bool
    trials: list[dict]
    seconds: float
    shift: np.ndarray
    hand_margin: float = float("nan")
    inverted: bool = False


def composition_of(elements: np.ndarray | list[str]) -> dict[str, int]:
    """Element counts of a list of element symbols (hydrogens dropped)."""
    counts = collections.Counter(str(e).strip().capitalize() for e in elements)
    counts.pop("H", None)
    counts.pop("D", None)
    return dict(sorted(counts.items()))


def centre_shift(rho: np.ndarray, level: float = 0.15) -> np.ndarray:
    """Fractional shift that moves the fragment's centroid to (½, ½, ½).

    The map is smoothed, thresholded at ``level`` × its maximum and tiled 2×2×2; the
    largest connected blob of the tiled mask is one whole, unwrapped copy of the
    fragment (copies are ≥ 3.45 Å apart), and its density-weighted centroid gives the
    shift. This mirrors the dataset convention (centre of mass at the cell centre).
    """
    import scipy.ndimage as ndi

    shape = np.array(rho.shape)
    sm = ndi.gaussian_filter(np.asarray(rho, dtype=np.float64), 1.0, mode="wrap")
    tiled = np.tile(sm, (2, 2, 2))
    mask = tiled > level * sm.max()
    labels, n = ndi.label(mask, structure=np.ones((3, 3, 3)))
    if n == 0:
        return np.zeros(3)
    sizes = ndi.sum(tiled, labels, index=np.arange(1, n + 1))
    blob = labels == (1 + int(np.argmax(sizes)))
    weights = np.where(blob, tiled, 0.0)
    total = weights.sum()
    centroid = np.array(
        [(weights.sum(axis=tuple(j for j in range(3) if j != i)) * np.arange(2 * shape[i])).sum()
         for i in range(3)]
    ) / (total * shape)  # fmt: skip
    return np.mod(0.5 - centroid + 0.5, 1.0) - 0.5


def density_from_phases(
    hkl: np.ndarray,
    amplitudes: np.ndarray,
    phases: np.ndarray,
    cell: gemmi.UnitCell,
    grid_shape: tuple[int, int, int],
) -> np.ndarray:
    """Map of ``|F| exp(iφ)`` on the output grid (crysbench.maps conventions)."""
    coef = np.abs(amplitudes) * np.exp(1j * np.asarray(phases))
    return synthesize(np.asarray(hkl), coef, tuple(grid_shape), cell.volume)


def _trial_seeds(example_id: str, seed: int, n: int) -> list[np.random.SeedSequence]:
    return np.random.SeedSequence([zlib.crc32(example_id.encode()), int(seed)]).spawn(n)


def _run_one(prob, ss: np.random.SeedSequence, params: Params, index: int) -> Trial:
    return run_trial(prob, np.random.default_rng(ss), params, index)


def _row(tr: Trial) -> dict:
    return {
        "trial": tr.index,
        "cc_all": round(tr.cc_all, 2),
        "cc_weak": round(tr.cc_weak, 2),
        "cfom": round(tr.cfom, 2),
        "r_mod": round(tr.r_mod, 4),
        "seconds": round(tr.seconds, 3),
    }


def _finish(
    example_id: str,
    engine: str,
    hkl: np.ndarray,
    amplitudes: np.ndarray,
    cell: gemmi.UnitCell,
    grid_shape: tuple[int, int, int],
    phases: np.ndarray,
    atoms: np.ndarray,
    fom: tuple[float, float, float],
    solved: bool,
    rows: list[dict],
    t0: float,
    centre: bool,
    hand: bool = False,
) -> Solution:
    hkl = np.asarray(hkl, dtype=np.int64)
    rho = density_from_phases(hkl, amplitudes, phases, cell, grid_shape)
    shift = centre_shift(rho) if centre else np.zeros(3)
    if centre:
        # atoms x -> x + t  <=>  F(h) -> F(h) exp(2πi h·t)
        phases = np.angle(np.exp(1j * (phases + 2 * np.pi * (hkl @ shift))))
        rho = density_from_phases(hkl, amplitudes, phases, cell, grid_shape)
        atoms = np.mod(atoms + shift, 1.0)
    rho = rho.astype(np.float32)
    margin, inverted = float("nan"), False
    if hand:  # L-amino acids: keep the enantiomer the templates fit (truth-free)
        from baselines.shelxd import hand as _hand

        rho, inverted, margin = _hand.apply_hand(rho, cell)
        if inverted:  # x -> -x  <=>  φ -> -φ (the centre ½ maps onto itself)
            phases = -np.asarray(phases)
            atoms = np.mod(-np.asarray(atoms), 1.0)
    cc_all, cc_weak, cfom = fom
    return Solution(
        example_id, engine, atoms, phases, rho, cfom, cc_all,
        cc_weak, solved, rows, time.perf_counter() - t0, shift, margin, bool(inverted),
    )  # fmt: skip


def solve(
    cell: gemmi.UnitCell,
    hkl: np.ndarray,
    amplitudes: np.ndarray,
    dmin: float,
    composition: Mapping[str, float],
    grid_shape: tuple[int, int, int],
    *,
    example_id: str = "",
    trials: int = 48,
    seed: int = 0,
    engine: str = "dualspace",
    n_jobs: int = 1,
    block: int = 4,
    params: Params | None = None,
    agreement_threshold: float = AGREEMENT,
    time_limit: float | None = None,
    centre: bool = True,
    workdir: str | None = None,
    hand: bool = True,
) -> Solution:
    """Ab-initio phasing of one P1 example from amplitudes only.

    Parameters
    ----------
    cell : gemmi.UnitCell
    hkl : ndarray, shape=(m, 3)
        Canonical half sphere of reflections.
    amplitudes : ndarray, shape=(m,)
        |F_obs| (electrons; the absolute scale is only needed with ``f000=True``).
    dmin : float
        Resolution (Å).
    composition : mapping of str to float
        Element counts of the fragment (non-H).
    grid_shape : tuple of int
        Output map grid.
    example_id : str
        Seeds the trials (with ``seed``).
    trials : int
        Maximum number of trials.
    seed : int
    engine : {"dualspace", "shelxd"}
        ``"shelxd"`` needs a ``shelxd`` binary on PATH; without one it falls back to
        ``"dualspace"`` (the returned ``Solution.engine`` says which ran).
    n_jobs : int
        Parallel trials within a block (joblib, loky); results do not depend on it.
    block : int
        Trials per block; the solver stops after the first block in which two
        trials agree (solved by its own figure of merit).
    params : Params, optional
    agreement_threshold : float
        Own-FOM threshold: two trials agreeing this well mean "solved" (early stop).
        The best trial is the lowest-misfit (``r_mod``) member of the agreeing set,
        or of all trials when none agree.
    time_limit : float, optional
        Stop starting new blocks after this many seconds (makes results depend on
        the machine's speed; off by default).
    centre : bool
        Move the solution's density centre to the cell centre (dataset convention).
    workdir : str, optional
        Scratch directory for the ``shelxd`` engine.
    hand : bool
        Choose the enantiomer from the map (L-amino acids,
        :mod:`baselines.shelxd.hand`); off: the hand the trial happened to converge to.

    Returns
    -------
    Solution
    """
    t0 = time.perf_counter()
    hkl = np.asarray(hkl, dtype=np.int64)
    amplitudes = np.abs(np.asarray(amplitudes, dtype=np.float64))
    if engine == "shelxd":
        exe = driver.find_shelxd()
        if exe is not None:
            return _solve_shelxd(
                cell, hkl, amplitudes, composition, grid_shape, example_id, trials,
                time_limit, centre, workdir, exe, t0, hand,
            )  # fmt: skip
        engine = "dualspace"
    if engine != "dualspace":
        raise ValueError(f"unknown engine {engine!r}: expected 'dualspace' or 'shelxd'")
    params = params or Params()
    prob = prepare(cell, hkl, amplitudes, dmin, composition, params)
    seeds = _trial_seeds(example_id, seed, trials)
    done: list[Trial] = []
    agree: dict[int, float] = {}
    solved_pairs: list[tuple[int, int]] = []
    for start in range(0, trials, block):
        idx = range(start, min(trials, start + block))
        if n_jobs == 1:
            batch = [_run_one(prob, seeds[i], params, i) for i in idx]
        else:
            from joblib import Parallel, delayed

            batch = Parallel(n_jobs=n_jobs, backend="loky")(
                delayed(_run_one)(prob, seeds[i], params, i) for i in idx
            )
        for tr in batch:
            agree.setdefault(tr.index, -1.0)
            for other in done:
                a = agreement(prob.hkl, prob.E, tr.phases, other.phases)
                agree[tr.index] = max(agree[tr.index], a)
                agree[other.index] = max(agree[other.index], a)
                if a >= agreement_threshold:
                    solved_pairs.append((other.index, tr.index))
            done.append(tr)
        if solved_pairs:
            break
        if time_limit is not None and time.perf_counter() - t0 > time_limit:
            break
    if solved_pairs:
        members = {i for pair in solved_pairs for i in pair}
        pool = [t for t in done if t.index in members]
    else:
        pool = done
    best = min(pool, key=lambda t: (t.r_mod if np.isfinite(t.r_mod) else -t.cfom, t.index))
    rows = [dict(_row(t), agree=round(agree.get(t.index, -1.0), 3)) for t in done]
    return _finish(
        example_id, "dualspace", hkl, amplitudes, cell, grid_shape, best.phases, best.atoms,
        (best.cc_all, best.cc_weak, best.cfom), bool(solved_pairs), rows, t0, centre, hand,
    )  # fmt: skip


def _solve_shelxd(
    cell, hkl, amplitudes, composition, grid_shape, example_id, trials,
    time_limit, centre, workdir, exe, t0, hand=True,
) -> Solution:  # fmt: skip
    name = "crysbench"
    ins = driver.format_ins(example_id or "crysbench", cell, composition, ntry=trials)
    text = driver.format_hkl(hkl, amplitudes)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        run = driver.run_shelxd(tmp, name, ins, text, timeout=time_limit or 600.0, executable=exe)
    frac = np.array([a[2:5] for a in run.atoms], dtype=float).reshape(-1, 3)
    if len(frac) == 0:
        raise driver.ShelxdError(f"shelxd left no atoms for {example_id}")
    occ = np.array([a[5] for a in run.atoms], dtype=float)
    F = (occ[None, :] * np.exp(2j * np.pi * (hkl @ frac.T))).sum(axis=1)
    best = run.best or {"cc_all": float("nan"), "cc_weak": float("nan"), "cfom": float("nan")}
    rows = [dict(t, r_mod=float("nan"), seconds=float("nan")) for t in run.tries]
    solved = bool(best["cfom"] >= SHELXD_SOLVED_CFOM) if run.tries else False
    return _finish(
        example_id, "shelxd", hkl, amplitudes, cell, grid_shape, np.angle(F), frac,
        (best["cc_all"], best["cc_weak"], best["cfom"]), solved, rows, t0, centre, hand,
    )  # fmt: skip


def solve_example(example_like, **kwargs) -> Solution:
    """:func:`solve` on an Example-like object (id, cell, hkl, F, dmin, elements, grid_shape).

    Only the amplitudes ``|F|`` and the composition are read from the example;
    its phases, positions, maps and sequence are never touched.
    """
    amp = np.abs(np.asarray(example_like.F))
    comp = composition_of(example_like.elements)
    return solve(
        example_like.cell, np.asarray(example_like.hkl), amp, float(example_like.dmin), comp,
        tuple(int(n) for n in example_like.grid_shape), example_id=str(example_like.id),
        **kwargs,
    )  # fmt: skip
