"""The P1 cell of a fragment (SPEC §3.4–3.5).

Steps, all deterministic given the example's RNG:

1. *Orientation (the documented reindexing).* The fragment is turned by a proper
   rotation that permutes the Cartesian axes (with a sign flip where needed to keep
   the hand), so that its extents satisfy Δx ≥ Δy ≥ Δz. With gemmi's
   orthogonalisation (a along x, b in the xy plane) **a is the longest axis and c
   the shortest**, and since all three lengths grow by the same amount this order
   holds in the final cell: a ≥ b ≥ c always.
2. *Angles.* α, β, γ drawn from the recipe's ``angle_choices`` with its
   ``angle_probs`` (every recipe so far: {90, 100, 110, 120}° with {1/3, 1/3, 2/9,
   1/9}); triples that give no real cell (e.g. 120/120/120) are redrawn.
3. *Lengths.* (a, b, c) = (Δx, Δy, Δz) + g, g a multiple of ``step``: the smallest
   g on the grid 0, 4·step, 8·step, … that clears all contacts (shortest distance
   between an atom and any atom of a lattice-translated copy > ``min_contact``) is
   found first, then the first clearing fine step after the last failing coarse
   one; beyond ``max_growth`` the fragment is rejected.
4. *Centering.* The centre of mass is moved to the cell centre (½, ½, ½).

Examples
--------
>>> import numpy as np
>>> from crysbench.cell import min_lattice_contact
>>> import gemmi
>>> xyz = np.array([[0.0, 0.0, 0.0], [1.5, 0.0, 0.0]])
>>> round(min_lattice_contact(xyz, gemmi.UnitCell(5, 6, 7, 90, 90, 90)), 3)
3.5
"""

from __future__ import annotations

import functools
import itertools
import math

import gemmi
import numpy as np
from scipy.spatial import cKDTree

from crysbench.streams import PinnedStream

__all__ = [
    "cell_volumes",
    "CellError",
    "orient_by_extent",
    "draw_angles",
    "valid_angles",
    "min_lattice_contact",
    "lattice_translations",
    "build_cell",
    "center_in_cell",
]


class CellError(ValueError):
    """No acceptable cell for a fragment (it still clashes after maximal growth)."""


def orient_by_extent(xyz: np.ndarray) -> np.ndarray:
    """Rotate coordinates so extents along x, y, z are in decreasing order.

    Only axis permutations (with one sign flip for odd permutations) are used, so
    the transformation is a proper rotation and the hand is kept.

    Parameters
    ----------
    xyz : ndarray, shape=(n, 3)

    Returns
    -------
    ndarray, shape=(n, 3)
    """
    ext = xyz.max(axis=0) - xyz.min(axis=0)
    order = np.argsort(-ext, kind="stable")
    out = xyz[:, order].copy()
    # parity of the permutation: odd permutations flip the hand; undo with z -> -z
    perm_matrix = np.eye(3)[order]
    if np.linalg.det(perm_matrix) < 0:
        out[:, 2] *= -1.0
    return out


def valid_angles(alpha: float, beta: float, gamma: float) -> bool:
    """True when three cell angles (degrees) describe a real, non-flat cell."""
    ca, cb, cg = (math.cos(math.radians(x)) for x in (alpha, beta, gamma))
    vol2 = 1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg
    sums_ok = (
        alpha + beta + gamma < 360
        and alpha + beta > gamma
        and alpha + gamma > beta
        and beta + gamma > alpha
    )
    return vol2 > 1e-6 and sums_ok


def draw_angles(
    rng: np.random.Generator | PinnedStream,
    choices: tuple[float, ...],
    probs: tuple[float, ...],
) -> tuple[float, float, float]:
    """Draw (α, β, γ), redrawing the whole triple when it is impossible.

    ``rng`` is a NumPy ``Generator`` (recipes @1: ``rng.choice``) or a
    :class:`crysbench.streams.PinnedStream` (recipes @2: one
    :meth:`~crysbench.streams.PinnedStream.choice_index` per angle, α then β then γ).
    ``choices`` (degrees) and ``probs`` are the recipe's ``angle_choices`` and
    ``angle_probs`` (:class:`crysbench.variants.Variant`).

    >>> from crysbench.streams import PinnedStream
    >>> from crysbench.variants import get_variant
    >>> v = get_variant("const-res@2")
    >>> draw_angles(PinnedStream(v.seed, "3HSY_1.pd_11", "cell"), v.angle_choices, v.angle_probs)
    (100.0, 90.0, 120.0)
    """
    if hasattr(rng, "choice_index"):
        while True:
            a, b, g = (float(choices[rng.choice_index(probs)]) for _ in range(3))
            if valid_angles(a, b, g):
                return a, b, g
    p = np.asarray(probs, dtype=float)
    p = p / p.sum()
    while True:
        a, b, g = (float(x) for x in rng.choice(np.asarray(choices), size=3, p=p))
        if valid_angles(a, b, g):
            return a, b, g


@functools.cache
def _half_shell(reach: int) -> np.ndarray:
    """Integer (u, v, w) with |u|,|v|,|w| ≤ reach in lexicographic order, one of each ±
    pair, no zero; shape=(((2·reach + 1)³ − 1) / 2, 3), float64, read-only."""
    uvw = [t for t in itertools.product(range(-reach, reach + 1), repeat=3) if t > (0, 0, 0)]
    out = np.array(uvw, dtype=float)
    out.flags.writeable = False
    return out


def lattice_translations(cell: gemmi.UnitCell, reach: int = 1) -> np.ndarray:
    """Cartesian lattice vectors u·a + v·b + w·c, |u|,|v|,|w| ≤ reach, one of each ± pair.

    Rows in lexicographic order of (u, v, w), shape=(13, 3) for ``reach=1``.

    Examples
    --------
    >>> lattice_translations(gemmi.UnitCell(5, 6, 7, 90, 90, 90))[:2].tolist()
    [[0.0, 0.0, 7.0], [0.0, 6.0, -7.0]]
    """
    orth = np.array(cell.orth.mat.tolist())
    uvw = _half_shell(reach)
    # (u·a + v·b) + w·c in that order, element by element: the same bits as the
    # recipe's one product per vector (orth @ uvw), which tests/test_cell.py checks on
    # random cells, without a Python loop (this runs ~6 times for every example)
    return uvw[:, 0:1] * orth[:, 0] + uvw[:, 1:2] * orth[:, 1] + uvw[:, 2:3] * orth[:, 2]


def min_lattice_contact(
    xyz: np.ndarray, cell: gemmi.UnitCell, reach: int = 1, tree: cKDTree | None = None
) -> float:
    """Shortest distance (Å) between an atom and an atom of a translated copy.

    Uses a k-d tree over the atoms and queries every translated copy; ``reach``
    sets which neighbour cells are considered (1: the 26 nearest).
    """
    tree = tree if tree is not None else cKDTree(xyz)
    shifts = lattice_translations(cell, reach)
    moved = (xyz[None, :, :] + shifts[:, None, :]).reshape(-1, 3)
    d, _ = tree.query(moved, k=1)
    return float(d.min())


def build_cell(
    xyz: np.ndarray,
    angles: tuple[float, float, float],
    min_contact: float,
    step: float,
    max_growth: float,
) -> gemmi.UnitCell:
    """Grow cell lengths from the coordinate extent until contacts exceed ``min_contact``.

    Parameters
    ----------
    xyz : ndarray, shape=(n, 3)
        Coordinates already oriented with :func:`orient_by_extent`.
    angles : tuple of float
        (α, β, γ) in degrees.
    min_contact, step, max_growth : float
        Å; the recipe's ``min_contact``, ``cell_step`` and ``cell_max_growth``
        (:class:`crysbench.variants.Variant`).

    Raises
    ------
    CellError
        When no growth up to ``max_growth`` removes the clash.
    """
    ext = xyz.max(axis=0) - xyz.min(axis=0)
    tree = cKDTree(xyz)
    n_steps = int(round(max_growth / step))

    def cell_at(i: int) -> gemmi.UnitCell:
        a, b, c = (round(float(x + i * step), 4) for x in ext)
        return gemmi.UnitCell(a, b, c, *angles)

    lo = xyz.min(axis=0) - min_contact
    hi = xyz.max(axis=0) + min_contact

    xmin, xmax = xyz.min(axis=0), xyz.max(axis=0)
    axes = [np.ascontiguousarray(xyz[:, k]) for k in range(3)]

    def clear(i: int) -> bool:
        # Only translated atoms inside the fragment's box grown by min_contact can
        # touch it; the rest are skipped before the k-d tree query. A whole copy is
        # skipped first when its box misses that box: exact, since rounding is
        # monotone (x ≥ xmin ⇒ fl(x + t) ≥ fl(xmin + t)), so no atom it skips could
        # have passed the per-atom test. The per-atom test runs axis by axis on
        # (copy, atom) arrays: the same sums and comparisons as on (n, 3) rows, without
        # the (n, 3) temporaries and the row-wise reduction.
        shifts = lattice_translations(cell_at(i))
        meets = ((xmin + shifts <= hi) & (xmax + shifts >= lo)).all(axis=1)
        if not meets.any():
            return True
        shifts = shifts[meets]
        moved, inside = [], None
        for k in range(3):
            x = axes[k] + shifts[:, k : k + 1]
            ok = (x >= lo[k]) & (x <= hi[k])
            inside = ok if inside is None else inside & ok
            moved.append(x)
        if not inside.any():
            return True
        near = np.stack([x[inside] for x in moved], axis=1)  # copy-major, as (n, 3) rows were
        d, _ = tree.query(near, k=1, distance_upper_bound=min_contact)
        return bool(d.min() > min_contact)

    # Coarse scan in steps of 4, then the first clear fine step inside the last
    # coarse interval (a fine scan from 0 would cost ~4x more contact checks).
    coarse = 4
    prev = -1
    for i in list(range(0, n_steps + 1, coarse)) + [n_steps]:
        if clear(i):
            for j in range(prev + 1, i):
                if clear(j):
                    return cell_at(j)
            return cell_at(i)
        prev = i
    raise CellError(
        f"intermolecular clash below {min_contact} Å after growing the cell by {max_growth} Å"
    )


def center_in_cell(xyz: np.ndarray, masses: np.ndarray, cell: gemmi.UnitCell) -> np.ndarray:
    """Translate so the centre of mass sits at fractional (½, ½, ½)."""
    com = (masses[:, None] * xyz).sum(axis=0) / masses.sum()
    centre = np.array(cell.orthogonalize(gemmi.Fractional(0.5, 0.5, 0.5)).tolist())
    return xyz + (centre - com)


def cell_volumes(cells: np.ndarray) -> np.ndarray:
    """Volumes (Å³) of rows of cell parameters (a, b, c, α, β, γ), vectorised.

    Examples
    --------
    >>> float(cell_volumes(np.array([[10.0, 10.0, 10.0, 90.0, 90.0, 90.0]]))[0])
    1000.0
    """
    cells = np.asarray(cells, dtype=np.float64).reshape(-1, 6)
    a, b, c = cells[:, 0], cells[:, 1], cells[:, 2]
    ca, cb, cg = np.cos(np.radians(cells[:, 3:6])).T
    return a * b * c * np.sqrt(1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg)
