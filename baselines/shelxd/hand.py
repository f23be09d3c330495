"""Truth-free hand decision: proteins are made of L-amino acids.

P1 amplitudes cannot tell a structure from its enantiomer, but the map can: every
residue except glycine has the same chiral arrangement of N, C (with its O) and Cβ
around Cα, and a run of residues in a helix or strand twists one way only.
:func:`hand_scores` fits L templates and their mirror images (the D templates) to the map:

1. candidate Cα sites: every other grid point (per axis) where the map exceeds
   ``threshold`` RMS;
2. coarse fit: the L-alanine unit (N, Cα, C, O, Cβ from
   :func:`crysbench.residue_density.residue_atoms`, O at a helix and at a strand ψ) and
   its mirror in :data:`N_ROTATIONS` fixed rotations at every candidate, scored by the sum
   of the map (RMS units, trilinear, periodic) at its atoms;
3. the ``n_sites`` best candidates (by the better of the two hands), at least 2.5 Å
   apart, are refined locally (rotations within 0.3 rad × shifts of ±0.35 Å) for each
   hand, with the unit and with tripeptides (:func:`tripeptides`: three residues with
   helix or strand φ/ψ, 15 atoms) placed in the frame of the unit's best rotation;
4. the per-site L − D differences of the unit and of the tripeptide (per atom) are
   averaged: the margin.

A positive margin means the map has the protein hand; :func:`choose_hand` says whether
to invert. Deterministic (fixed rotation sets); the truth is never read. Developed on
train-split examples only (``benchmarks/shelxd_hand.py``, log in
``baselines/shelxd/results/hand-dev.txt``).

Examples
--------
>>> len(l_units()), l_units()[0].shape, tripeptides()[0].shape
(2, (5, 3), (15, 3))
"""

from __future__ import annotations

import functools

import gemmi
import numpy as np
from scipy import ndimage
from scipy.spatial.transform import Rotation

__all__ = [
    "N_ROTATIONS", "l_units", "tripeptides", "hand_scores", "margin_of", "hand_margin",
    "choose_hand", "invert_map", "apply_hand",
]  # fmt: skip

#: Coarse rotations per candidate site (uniform random, fixed seed; about 20° apart).
N_ROTATIONS = 2000

#: (φ, ψ) in degrees of the tripeptide templates: α-helix and β-strand.
CONFORMATIONS = ((-57.0, -47.0), (-120.0, 130.0))

#: Weight of the tripeptide difference (per atom) against the unit's (per atom); chosen on train
#: maps (``baselines/shelxd/results/hand-dev.txt``): it maximises the smallest right margin.
TRIPEPTIDE_WEIGHT = 0.25


@functools.cache
def _alanine() -> dict[str, np.ndarray]:
    from crysbench.residue_density import residue_atoms

    names, _, pos = residue_atoms("A")
    return {n: np.asarray(p, dtype=np.float64) for n, p in zip(names, pos, strict=True)}


@functools.cache
def l_units() -> tuple[np.ndarray, ...]:
    """L-alanine (N, CA, C, O, CB) relative to CA (Å), with O at ψ ≈ −45° and ψ ≈ 135°."""
    rel = {n: p - _alanine()["CA"] for n, p in _alanine().items()}
    helix = np.stack([rel[n] for n in ("N", "CA", "C", "O", "CB")])
    axis = rel["C"] / np.linalg.norm(rel["C"])
    strand = helix.copy()
    strand[3] = rel["C"] + Rotation.from_rotvec(np.pi * axis).apply(rel["O"] - rel["C"])
    return (helix, strand)


def _place(a: np.ndarray, b: np.ndarray, c: np.ndarray, bond: float, angle: float, torsion: float):
    """NeRF: atom d with |cd| = bond, angle bcd and torsion abcd (degrees)."""
    bc = (c - b) / np.linalg.norm(c - b)
    n = np.cross(b - a, bc)
    n /= np.linalg.norm(n)
    m = np.stack([bc, np.cross(n, bc), n], axis=1)
    th, ph = np.radians(angle), np.radians(torsion)
    d2 = bond * np.array([-np.cos(th), np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph)])
    return c + m @ d2


def _kabsch(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotation r and translation t with ``src @ r.T + t ≈ dst``."""
    cs, cd = src.mean(0), dst.mean(0)
    u, _, vt = np.linalg.svd((src - cs).T @ (dst - cd))
    d = np.sign(np.linalg.det(vt.T @ u.T))
    r = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    return r, cd - cs @ r.T


@functools.cache
def tripeptides() -> tuple[np.ndarray, ...]:
    """L tripeptides (N, CA, C, O, CB per residue; 15 × 3 Å) for each of :data:`CONFORMATIONS`.

    Ideal backbone geometry (N–Cα 1.458, Cα–C 1.525, C–N 1.329, C=O 1.231 Å; ω = 180°),
    Cβ from the L-alanine unit superposed on each residue's N, Cα, C; expressed in the
    frame of :func:`l_units` (the middle residue's N, Cα, C on the unit's, its Cα at 0).
    """
    ala = _alanine()
    frame = np.stack([ala["N"], ala["CA"], ala["C"]])
    out = []
    for phi, psi in CONFORMATIONS:
        n, ca, c = frame[0].copy(), frame[1].copy(), frame[2].copy()
        chain = [[n, ca, c]]
        for _ in range(2):
            n2 = _place(chain[-1][0], chain[-1][1], chain[-1][2], 1.329, 116.2, psi)
            ca2 = _place(chain[-1][1], chain[-1][2], n2, 1.458, 121.7, 180.0)
            c2 = _place(chain[-1][2], n2, ca2, 1.525, 111.2, phi)
            chain.append([n2, ca2, c2])
        atoms = []
        for i, (n, ca, c) in enumerate(chain):
            nxt = chain[i + 1][0] if i + 1 < len(chain) else _place(n, ca, c, 1.329, 116.2, psi)
            o = _place(nxt, ca, c, 1.231, 120.8, 180.0)
            r, t = _kabsch(frame, np.stack([n, ca, c]))
            atoms.append([n, ca, c, o, ala["CB"] @ r.T + t])
        xyz = np.array(atoms)  # (3 residues, 5, 3)
        r, t = _kabsch(np.stack(xyz[1, :3]), frame)  # middle residue onto the unit frame
        xyz = xyz.reshape(-1, 3) @ r.T + t
        out.append(xyz - ala["CA"])
    return tuple(out)


@functools.cache
def _rotations() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    coarse = Rotation.random(N_ROTATIONS, random_state=1).as_matrix()
    rng = np.random.default_rng(7)
    v = rng.normal(size=(300, 3))
    v *= 0.3 * rng.random((300, 1)) ** (1 / 3) / np.linalg.norm(v, axis=1)[:, None]
    local = Rotation.from_rotvec(np.vstack([np.zeros(3), v])).as_matrix()
    shifts = np.stack(np.meshgrid(*[np.array([-0.35, 0.0, 0.35])] * 3, indexing="ij"), -1)
    return coarse, local, shifts.reshape(-1, 3)


@functools.cache
def _fine() -> tuple[np.ndarray, np.ndarray]:
    """Small rotations (60 within 0.15 rad, and none) and 7 shifts (0, ±0.25 Å per axis)."""
    rng = np.random.default_rng(11)
    v = rng.normal(size=(60, 3))
    v *= 0.15 * rng.random((60, 1)) ** (1 / 3) / np.linalg.norm(v, axis=1)[:, None]
    local = Rotation.from_rotvec(np.vstack([np.zeros(3), v])).as_matrix()
    shifts = np.vstack([np.zeros(3), 0.25 * np.eye(3), -0.25 * np.eye(3)])
    return local, shifts


def _fits(z: np.ndarray, to_grid: np.ndarray, units: tuple[np.ndarray, ...], sites: np.ndarray):
    """Best coarse fit and its rotation index of each of ``units`` at each site.

    The units share most atoms (they differ in O only), so the map is sampled once per
    distinct atom; Cα sits at the site itself for every rotation.
    """
    coarse = _rotations()[0]
    atoms, inverse = np.unique(np.round(np.vstack(units), 6), axis=0, return_inverse=True)
    inverse = inverse.reshape(len(units), -1)
    moving = np.linalg.norm(atoms, axis=1) > 0
    offsets = np.einsum("rij,aj->rai", coarse, atoms[moving]) @ to_grid.T  # (R, a, 3)
    at_site = ndimage.map_coordinates(z, sites.T, order=1, mode="grid-wrap")
    col = np.cumsum(moving) - 1
    out = [(np.empty(len(sites)), np.empty(len(sites), dtype=np.int64)) for _ in units]
    for c in range(0, len(sites), 20):
        pts = sites[c : c + 20, None, None, :] + offsets[None]
        v = ndimage.map_coordinates(z, pts.reshape(-1, 3).T, order=1, mode="grid-wrap")
        v = v.reshape(len(pts), len(coarse), -1)
        for k, rows in enumerate(inverse):
            s = sum(v[..., col[r]] if moving[r] else at_site[c : c + 20, None] for r in rows)
            out[k][0][c : c + 20], out[k][1][c : c + 20] = s.max(1), s.argmax(1)
    return out


def _refine(z, to_grid, atoms, centre, rot0, local, shifts) -> tuple:
    """Best ``(score, rotation, centre)`` over ``local @ rot0`` and ``centre + shifts``."""
    R = np.einsum("lij,jk->lik", local, rot0)
    cart = np.einsum("lij,aj->lai", R, atoms)[:, None] + shifts[None, :, None, :]
    pts = centre + cart @ to_grid.T
    s = ndimage.map_coordinates(z, pts.reshape(-1, 3).T, order=1, mode="grid-wrap")
    s = s.reshape(len(local), len(shifts), -1).sum(-1)
    i, j = np.unravel_index(int(np.argmax(s)), s.shape)
    return float(s[i, j]), R[i], centre + shifts[j] @ to_grid.T


def hand_scores(
    rho: np.ndarray, cell: gemmi.UnitCell | tuple, n_sites: int = 25, threshold: float = 1.0
) -> dict[str, np.ndarray]:
    """Per-site refined fits of the L and D templates (map RMS units, summed over atoms).

    Returns
    -------
    dict
        ``unit_L``, ``unit_D`` (5 atoms) and ``tri_L``, ``tri_D`` (15 atoms): arrays of
        shape ``(n,)`` over the ``n <= n_sites`` chosen Cα sites, each the best over the
        helix and strand templates. Empty arrays when no grid point exceeds ``threshold``.
    """
    if not isinstance(cell, gemmi.UnitCell):
        cell = gemmi.UnitCell(*cell)
    rho = np.asarray(rho, dtype=np.float64)
    z = (rho - rho.mean()) / (rho.std() or 1.0)
    shape = np.array(z.shape, dtype=np.float64)
    to_grid = np.array(cell.frac.mat.tolist()) * shape[:, None]  # Cartesian Å -> grid units
    sites = np.argwhere(z > threshold)
    sites = sites[(sites % 2 == 0).all(1)].astype(np.float64)
    keys = ("unit_L", "unit_D", "tri_L", "tri_D")
    if len(sites) == 0:
        return {k: np.zeros(0) for k in keys}
    units = {"L": l_units(), "D": tuple(-u for u in l_units())}
    tris = {"L": tripeptides(), "D": tuple(-t for t in tripeptides())}
    fits = {h: _fits(z, to_grid, us, sites) for h, us in units.items()}
    both = np.max([f[0] for fs in fits.values() for f in fs], axis=0)
    xyz = (sites / shape) @ np.array(cell.orth.mat.tolist()).T
    chosen: list[int] = []
    for i in np.argsort(-both, kind="stable"):
        if all(np.linalg.norm(xyz[i] - xyz[j]) >= 2.5 for j in chosen):
            chosen.append(int(i))
            if len(chosen) >= n_sites:
                break
    coarse, local, shifts = _rotations()
    fine_rot, fine_shift = _fine()
    out: dict[str, list[float]] = {k: [] for k in keys}
    for i in chosen:
        for h in ("L", "D"):
            best = max(
                (_refine(z, to_grid, u, sites[i], coarse[int(f[1][i])], local, shifts)
                 for u, f in zip(units[h], fits[h], strict=True)),
                key=lambda r: r[0],
            )  # fmt: skip
            out[f"unit_{h}"].append(best[0])
            tri = max(_refine(z, to_grid, t, best[2], best[1], fine_rot, fine_shift)[0]
                      for t in tris[h])  # fmt: skip
            out[f"tri_{h}"].append(tri)
    return {k: np.asarray(v) for k, v in out.items()}


def margin_of(scores: dict[str, np.ndarray], tri_weight: float = TRIPEPTIDE_WEIGHT) -> float:
    """Mean per-atom L − D fit of the unit plus ``tri_weight`` × that of the tripeptides."""
    if len(scores["unit_L"]) == 0:
        return 0.0
    unit = np.mean(scores["unit_L"] - scores["unit_D"]) / 5.0
    tri = np.mean(scores["tri_L"] - scores["tri_D"]) / 15.0
    return float(unit + tri_weight * tri)


def hand_margin(
    rho: np.ndarray, cell: gemmi.UnitCell | tuple, n_sites: int = 25, threshold: float = 1.0
) -> float:
    """L minus D fit of the map (> 0: protein hand); see :func:`margin_of`."""
    return margin_of(hand_scores(rho, cell, n_sites, threshold))


def choose_hand(rho: np.ndarray, cell: gemmi.UnitCell | tuple) -> tuple[bool, float]:
    """``(invert, margin)``: invert the phases when the D templates fit the map better."""
    m = hand_margin(rho, cell)
    return m < 0, m


def invert_map(rho: np.ndarray) -> np.ndarray:
    """ρ(−x) on the same grid (index ``i → −i mod n`` per axis; the centre ½ stays put).

    Examples
    --------
    >>> rho = np.arange(8.0).reshape(2, 2, 2)
    >>> bool((invert_map(invert_map(rho)) == rho).all())
    True
    """
    idx = [(-np.arange(n)) % n for n in rho.shape]
    return rho[np.ix_(*idx)]


def apply_hand(rho: np.ndarray, cell: gemmi.UnitCell | tuple) -> tuple[np.ndarray, bool, float]:
    """``(map, inverted, margin)``: the map in the protein hand, by :func:`choose_hand`.

    Reads the map alone (no truth); the same float32 map gives the same bytes whether the
    decision runs inside :func:`baselines.shelxd.solver.solve` or afterwards on a saved
    prediction (``python -m baselines.shelxd hand``).
    """
    rho = np.ascontiguousarray(rho, dtype=np.float32)
    invert, margin = choose_hand(rho, cell)
    return (invert_map(rho) if invert else rho), bool(invert), float(margin)
