"""Open dual-space direct methods for P1 fragments (Shake-and-Bake / SHELXD style).

The solver sees only amplitudes, the cell, the resolution and the composition.
One *trial* starts from random atoms and cycles between

1. reciprocal space: phases of the large-|E| set from the current atoms
   (``E_c = Σ_j exp(2πi h·x_j)``), optionally refined by the tangent formula,
   computed as the Fourier transform of the squared E-map (Sayre), and
2. real space: an E-map, a peak search with a minimum distance, and random
   omission of a fraction of the peaks (SHELXD's random omit),

then scores its full peak list with SHELXD's figure of merit
``CFOM = CC_all + CC_weak`` (Fujinaga & Read correlation of ``|E_o|²`` and ``|E_c|²``,
in %). See ``/work/shared/notes/dualspace.md`` for the background.

Conventions follow :mod:`crysbench.maps`: ``F(h) = Σ f exp(+2πi h·x)`` and
``ρ(x) = Σ F(h) exp(-2πi h·x)``. Reflections are placed on the internal grid, and
picked from its transforms, by crysbench's one kernel, :class:`crysbench.HalfSphereGrid`
(unscaled, in complex128: the grid's own units).

Size: over 400 lines because one trial's cycle (E-maps, HIO, peaks, figures of merit)
is kept in one file, as SHELXD's own loop is described in one place.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping

import gemmi
import numpy as np
import scipy.fft

from baselines.shelxd.emap import normalize
from crysbench import HalfSphereGrid
from crysbench.maps import inv_d2

__all__ = [
    "Params",
    "Problem",
    "Trial",
    "prepare",
    "run_trial",
    "hio",
    "score",
    "cc_percent",
    "agreement",
]


@dataclasses.dataclass(frozen=True)
class Params:
    """Settings of one trial (defaults tuned on bundled const-res and var-res examples).

    Attributes
    ----------
    start : {"hio", "random"}
        ``"hio"``: phase retrieval of the isolated fragment (HIO with a shrinking,
        volume-targeted support; see :func:`hio`), then an optional number of atomic
        dual-space cycles. ``"random"``: classical Shake-and-Bake style trial from
        random atoms (point-atom recycling with random omit).
    hio_iters, er_iters : int
        Iterations of HIO (or RAAR) with shrink-wrap, then of error reduction.
    hio_beta : float
        Feedback parameter of HIO / RAAR.
    algorithm : {"hio", "raar"}
    volume_per_atom : float
        Final support volume per atom (Å³) at 1.5 Å for 120 atoms; multiplied by
        ``(max(dmin, 1.5)/1.5) ** volume_exponent`` and by the surface factor
        ``(1 + surface/N^⅓) / (1 + surface/120^⅓)``.
    volume_exponent, surface : float
    support_start : float
        Initial support volume as a multiple of the final one.
    shrink_until : float
        Fraction of the HIO iterations over which the support shrinks.
    sigma_start, sigma_end : float
        Gaussian smoothing (Å) of shrink-wrap at the start and end (the end value
        scales with dmin/1.5).
    seed_vector : float
        When > 0, the initial support is the superposition minimum function
        ``min(P(x), P(x − u))`` of the Patterson map for a random vector ``u`` among
        the Patterson's high points at least this fraction of the longest such
        vector; 0 uses the Patterson map itself (centrosymmetric).
    rate : float
        Internal grid sampling (dmin / spacing).
    sharpen : float
        B (Å²) of an exp(+B s²) sharpening of the amplitudes used by HIO.
    f000 : bool
        Impose F000 = Σ Z (needs amplitudes on the absolute scale); else free.
    cycles : int
        Atomic dual-space cycles (E-map peaks → point atoms → phases).
    large_per_atom : float
        Size of the phasing (large-|E|) set per atom; the rest is the weak set.
    peaks_per_atom, omit, min_dist, tangent, dmax_phasing, start_atoms_per_atom
        Atomic cycle settings: peaks kept (× N), random-omit fraction, minimum peak
        distance (Å), tangent iterations per cycle, largest d (Å) in the phasing
        set, random starting atoms (× N).
    """

    start: str = "hio"
    hio_iters: int = 600
    er_iters: int = 50
    hio_beta: float = 0.9
    algorithm: str = "hio"
    volume_per_atom: float = 16.0
    volume_exponent: float = 1.0
    surface: float = 5.5
    support_start: float = 2.0
    shrink_until: float = 0.6
    sigma_start: float = 3.0
    sigma_end: float = 1.0
    seed_vector: float = 0.8
    rate: float = 2.5
    sharpen: float = 0.0
    f000: bool = False
    cycles: int = 0
    large_per_atom: float = 10.0
    peaks_per_atom: float = 1.0
    omit: float = 0.3
    min_dist: float = 1.0
    tangent: int = 0
    dmax_phasing: float = 4.0
    start_atoms_per_atom: float = 1.0


@dataclasses.dataclass
class Problem:
    """Everything a trial needs, computed once per example (amplitudes only)."""

    cell: gemmi.UnitCell
    hkl: np.ndarray  # (m, 3) int64
    amp: np.ndarray  # (m,) |F|
    E: np.ndarray  # (m,) |E|
    n_atoms: int
    dmin: float
    large: np.ndarray  # indices of the phasing set
    weak: np.ndarray  # indices of the weak set (scoring only)
    shape: tuple[int, int, int]  # internal grid
    grid: HalfSphereGrid  # all reflections on the internal grid
    grid_large: HalfSphereGrid  # the phasing set on the internal grid
    orth: np.ndarray  # (3, 3) fractional -> Cartesian
    volume: float
    electrons: float = 0.0


@dataclasses.dataclass
class Trial:
    """Result of one trial.

    Attributes
    ----------
    index : int
    phases : ndarray, shape=(m,)
        Phases (radians) of all reflections.
    atoms : ndarray, shape=(n, 3)
        Peak list (fractional) of the final map.
    heights : ndarray, shape=(n,)
    cc_all, cc_weak : float
        Correlation (%) of ``|E_o|²`` with ``|E_c|²`` of the final peak list (equal
        point atoms) over all / weak reflections, as SHELXD.
    r_mod : float
        Relative Fourier-modulus misfit of the final model (HIO only, else NaN).
    seconds : float
    """

    index: int
    phases: np.ndarray
    atoms: np.ndarray
    heights: np.ndarray
    cc_all: float
    cc_weak: float
    r_mod: float = float("nan")
    seconds: float = 0.0

    @property
    def cfom(self) -> float:
        """CC_all + CC_weak (%)."""
        return self.cc_all + self.cc_weak


def prepare(
    cell: gemmi.UnitCell,
    hkl: np.ndarray,
    amplitudes: np.ndarray,
    dmin: float,
    composition: Mapping[str, float],
    params: Params = Params(),
) -> Problem:
    """Normalise the data and pick the phasing and weak sets.

    Parameters
    ----------
    cell : gemmi.UnitCell
    hkl : ndarray, shape=(m, 3)
        Canonical half sphere (one of each Friedel pair, no F000).
    amplitudes : ndarray, shape=(m,)
        |F|.
    dmin : float
        Resolution (Å).
    composition : mapping of str to float
        Element counts (non-H atoms) of the cell.
    params : Params
    """
    hkl = np.asarray(hkl, dtype=np.int64)
    amp = np.abs(np.asarray(amplitudes, dtype=np.float64))
    n_atoms = max(1, int(round(sum(composition.values()))))
    E = normalize(hkl, amp, cell, composition)
    d = 1.0 / np.sqrt(inv_d2(cell, hkl))
    pool = np.flatnonzero(d <= params.dmax_phasing)
    if len(pool) < 20:
        pool = np.arange(len(hkl))
    n_large = min(len(pool), max(20, int(round(params.large_per_atom * n_atoms))))
    large = pool[np.argsort(-E[pool], kind="stable")[:n_large]]
    large = np.sort(large)
    in_large = np.zeros(len(hkl), bool)
    in_large[large] = True
    weak = np.flatnonzero(~in_large)
    hmax = np.abs(hkl).max(axis=0)
    lengths = (cell.a, cell.b, cell.c)
    factor = 3 if params.tangent else 2
    shape = tuple(
        int(
            scipy.fft.next_fast_len(
                max(math.ceil(params.rate * L / dmin), factor * int(m) + 1), real=True
            )
        )
        for L, m in zip(lengths, hmax)
    )
    grid, grid_large = HalfSphereGrid(hkl, shape), HalfSphereGrid(hkl[large], shape)
    orth = np.array(cell.orth.mat.tolist())
    electrons = sum(gemmi.Element(str(e)).atomic_number * n for e, n in composition.items())
    return Problem(cell, hkl, amp, E, n_atoms, dmin, large, weak, shape, grid, grid_large,
                   orth, cell.volume, float(electrons))  # fmt: skip


def _emap(prob: Problem, coef: np.ndarray) -> np.ndarray:
    """E-map ``(1/N) Σ_{h,-h} C(h) exp(-2πi h·x)`` of the phasing set (grid units)."""
    g = prob.grid_large
    return g.irfft(g.place(coef, np.complex128)[0])


def _tangent(prob: Problem, coef: np.ndarray) -> np.ndarray:
    """Sayre / tangent-formula estimate: the phasing set's terms of the squared E-map."""
    e = _emap(prob, coef)
    return prob.grid_large.gather(scipy.fft.rfftn(e * e, workers=1), None)


def _peaks(
    prob: Problem, rho: np.ndarray, n_max: int, min_dist: float
) -> tuple[np.ndarray, np.ndarray]:
    """Highest local maxima (26 neighbours, periodic), sub-grid, ≥ min_dist apart."""
    shape = np.array(rho.shape)
    flat = rho.ravel()
    n_cand = min(flat.size, max(8 * n_max, 200))
    cand = np.argpartition(-flat, n_cand - 1)[:n_cand]
    ijk = np.stack(np.unravel_index(cand, rho.shape), axis=1)
    val = flat[cand]
    is_max = np.ones(len(cand), bool)
    nb = {}
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            for dk in (-1, 0, 1):
                if di == dj == dk == 0:
                    continue
                q = (ijk + (di, dj, dk)) % shape
                v = rho[q[:, 0], q[:, 1], q[:, 2]]
                nb[(di, dj, dk)] = v
                is_max &= val >= v
    ijk, val = ijk[is_max], val[is_max]
    off = np.zeros((len(val), 3))
    for ax in range(3):
        e = [0, 0, 0]
        e[ax] = 1
        lo = nb[tuple(-x for x in e)][is_max]
        hi = nb[tuple(e)][is_max]
        den = lo - 2 * val + hi
        with np.errstate(divide="ignore", invalid="ignore"):
            o = np.where(den < 0, 0.5 * (lo - hi) / den, 0.0)
        off[:, ax] = np.clip(o, -0.5, 0.5)
    order = np.argsort(-val, kind="stable")
    frac = ((ijk + off) / shape)[order]
    val = val[order]
    # greedy minimum-distance suppression (short vectors: nearest-integer image is exact)
    diff = frac[:, None, :] - frac[None, :, :]
    diff -= np.round(diff)
    cart = diff @ prob.orth.T
    close = np.einsum("ijk,ijk->ij", cart, cart) < min_dist * min_dist
    keep = np.zeros(len(val), bool)
    blocked = np.zeros(len(val), bool)
    count = 0
    for i in range(len(val)):
        if blocked[i]:
            continue
        keep[i] = True
        count += 1
        if count >= n_max:
            break
        blocked |= close[i]
    return np.mod(frac[keep], 1.0), val[keep]


def hio(
    prob: Problem, rng: np.random.Generator, params: Params
) -> tuple[np.ndarray, float, np.ndarray]:
    """Phase retrieval of an isolated object: HIO with a shrinking (volume-targeted) support.

    The support starts as the highest ``support_start × target`` part of the Patterson
    map and shrinks to the target volume ``n_atoms × volume_per_atom`` by thresholding
    the smoothed positive density (shrink-wrap). Returns the structure factors of
    the final (error-reduction) iterate for all reflections (arbitrary scale), their
    relative Fourier-modulus misfit, and the iterate itself on the internal grid.
    """
    import scipy.ndimage as ndi

    nu, nv, nw = prob.shape
    hw = nw // 2 + 1
    size = nu * nv * hw
    # the measured terms: the kernel's +h positions and the -h mates of l = 0
    plus, zero, minus = prob.grid.flat_indices()
    meas = np.concatenate([plus, minus])
    amp = prob.amp
    if params.sharpen:
        amp = amp * np.exp(params.sharpen * inv_d2(prob.cell, prob.hkl) / 4.0)
    A = np.concatenate([amp, amp[zero]])
    spacing = np.array([prob.cell.a / nu, prob.cell.b / nv, prob.cell.c / nw])
    # F000 on the internal grid's scale: rfftn of a map holds the sum over grid points
    f000 = prob.electrons if params.f000 else 0.0
    scale = max(prob.dmin, 1.5) / 1.5
    # small fragments have relatively more surface: a larger envelope per atom
    c = params.surface
    surface = (1 + c / prob.n_atoms ** (1 / 3)) / (1 + c / 120 ** (1 / 3))
    vpa = params.volume_per_atom * scale**params.volume_exponent * surface
    f_end = min(0.9, prob.n_atoms * vpa / prob.volume)
    f_start = min(0.95, f_end * params.support_start)

    def to_real(G: np.ndarray) -> np.ndarray:
        return prob.grid.irfft(G.reshape(nu, nv, hw))

    def top(v: np.ndarray, frac: float) -> np.ndarray:
        k = max(1, min(v.size - 1, int(frac * v.size)))
        cut = np.partition(v.ravel(), v.size - k)[v.size - k]
        return v >= cut

    G = np.zeros(size, complex)
    G[meas] = A * A
    P = to_real(G)
    if params.seed_vector > 0:
        # superposition minimum function M(x) = min(P(x), P(x - u)) for a long vector u
        # with a high Patterson value: a support that breaks the inversion symmetry
        idx = np.stack(np.unravel_index(np.arange(P.size), P.shape), axis=1) / np.array(P.shape)
        idx -= np.round(idx)
        length = np.sqrt(((idx @ prob.orth.T) ** 2).sum(1))
        inside = top(P, f_start * 2).ravel()
        cand = np.flatnonzero(inside & (length >= params.seed_vector * length[inside].max()))
        u = np.unravel_index(int(rng.choice(cand)), P.shape)
        sup = top(np.minimum(P, np.roll(P, u, axis=(0, 1, 2))), f_start)
    else:
        sup = top(P, f_start)
    G[:] = 0
    G[meas] = A * np.exp(2j * np.pi * rng.random(len(A)))
    x = to_real(G)
    n_shrink = max(1, int(params.shrink_until * params.hio_iters))
    beta = params.hio_beta
    total = params.hio_iters + params.er_iters
    for it in range(total):
        Gx = scipy.fft.rfftn(x, workers=1).ravel()
        g = Gx[meas]
        Gp = np.zeros(size, complex)
        Gp[meas] = A * g / np.maximum(np.abs(g), 1e-30)
        Gp[0] = Gx[0] if not f000 else f000
        xp = to_real(Gp)
        if it >= params.hio_iters:  # error reduction
            x = np.where(sup & (xp > 0), xp, 0.0)
            continue
        if params.algorithm == "raar":
            y = 2 * xp - x
            x = np.where(sup & (y > 0), beta * y, 0.0) + beta * x + (1 - 2 * beta) * xp
        else:
            x = np.where(sup & (xp > 0), xp, x - beta * xp)
        if it % 20 == 19:  # shrink-wrap
            t = min(1.0, it / n_shrink)
            sigma = params.sigma_start + (params.sigma_end * scale - params.sigma_start) * t
            sm = np.where(sup, np.maximum(xp, 0), 0)
            sm = ndi.gaussian_filter(sm, sigma / spacing, mode="wrap")
            sup = top(sm, f_start + (f_end - f_start) * t)
    Gx = scipy.fft.rfftn(x, workers=1)
    g = Gx.ravel()[meas]
    err = float(np.linalg.norm(np.abs(g) - A) / np.linalg.norm(A))
    return prob.grid.gather(Gx, None), err, x


def _ec(hkl: np.ndarray, frac: np.ndarray) -> np.ndarray:
    if len(frac) == 0:
        return np.zeros(len(hkl), complex)
    ph = (2 * np.pi) * (hkl @ frac.T)
    return np.exp(1j * ph).sum(axis=1) / math.sqrt(len(frac))


def cc_percent(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two arrays, in % (0 when undefined)."""
    if len(a) < 2:
        return 0.0
    a = a - a.mean()
    b = b - b.mean()
    den = math.sqrt(float((a * a).sum() * (b * b).sum()))
    return 100.0 * float((a * b).sum()) / den if den > 0 else 0.0


def score(prob: Problem, frac: np.ndarray) -> tuple[float, float]:
    """(CC_all, CC_weak) in % of ``|E_o|²`` against ``|E_c|²`` of equal point atoms."""
    ec2 = np.abs(_ec(prob.hkl, frac)) ** 2
    eo2 = prob.E**2
    return cc_percent(eo2, ec2), cc_percent(eo2[prob.weak], ec2[prob.weak])


def run_trial(
    prob: Problem, rng: np.random.Generator, params: Params = Params(), index: int = 0
) -> Trial:
    """One trial: HIO phase retrieval (or random atoms), atomic cycles, figures of merit."""
    t0 = time.perf_counter()
    N = prob.n_atoms
    H = prob.hkl[prob.large]
    Eo = prob.E[prob.large]
    n_peaks = max(1, int(round(params.peaks_per_atom * N)))
    r_mod = float("nan")
    Fc = None
    atoms = None
    if params.start == "hio":
        Fc, r_mod, x = hio(prob, rng, params)
        phi = np.angle(Fc[prob.large])
    elif params.start == "random":
        atoms = rng.random((max(1, int(round(params.start_atoms_per_atom * N))), 3))
        atoms[0] = 0.0
    else:
        raise ValueError(f"unknown start {params.start!r}: expected 'hio' or 'random'")
    for _ in range(params.cycles):
        if atoms is not None:
            phi = np.angle(_ec(H, atoms))
        coef = Eo * np.exp(1j * phi)
        for _ in range(params.tangent):
            coef = Eo * np.exp(1j * np.angle(_tangent(prob, coef)))
        frac, _ = _peaks(prob, _emap(prob, coef), n_peaks, params.min_dist)
        keep = rng.random(len(frac)) >= params.omit
        atoms = frac[keep] if keep.sum() >= 3 else frac
    if atoms is not None or Fc is None:
        if atoms is not None:
            phi = np.angle(_ec(H, atoms))
        frac, heights = _peaks(prob, _emap(prob, Eo * np.exp(1j * phi)), n_peaks, params.min_dist)
        Fc = _ec(prob.hkl, frac)
        cc_all, cc_weak = score(prob, frac)
    else:
        frac, heights = _peaks(prob, x, n_peaks, params.min_dist)
        cc_all, cc_weak = score(prob, frac)
    return Trial(index, np.angle(Fc), frac, heights, cc_all, cc_weak, r_mod,
                 time.perf_counter() - t0)  # fmt: skip


def agreement(hkl: np.ndarray, weights: np.ndarray, phi_a: np.ndarray, phi_b: np.ndarray) -> float:
    """Best weighted mean cos(Δφ) between two phase sets over P1 origin shifts and hands.

    ``max_{t, hand} Σ w cos(φ_a ∓ φ_b − 2π h·t) / Σ w`` on a grid of shifts
    (spacing ≤ 1/(4 h_max)); 1 for identical solutions, ≈ 0 for unrelated ones.

    Not on :class:`crysbench.HalfSphereGrid`: this full complex grid with ``ifftn``
    (sizes from the complex ``next_fast_len``, mates added with ``+=``) is what the
    leaderboard's solves used, and an rfft synthesis on the kernel equals it only to
    rounding, which would move agreements at the threshold and so the early stop.
    """
    hkl = np.asarray(hkl, dtype=np.int64)
    shape = tuple(
        int(scipy.fft.next_fast_len(4 * int(np.abs(hkl[:, i]).max()) + 4)) for i in range(3)
    )
    h, k, l = (hkl[:, i] for i in range(3))
    best = -1.0
    for sign in (1.0, -1.0):
        coef = weights * np.exp(1j * (phi_a - sign * phi_b))
        grid = np.zeros(shape, complex)
        grid[h % shape[0], k % shape[1], l % shape[2]] = np.conj(coef)
        grid[(-h) % shape[0], (-k) % shape[1], (-l) % shape[2]] += coef
        c = scipy.fft.ifftn(grid, workers=1).real * grid.size / 2.0
        best = max(best, float(c.max()))
    return best / float(np.sum(weights))
