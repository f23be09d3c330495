"""Trivial density maps: the floor every learned or ab-initio method must beat.

Each function maps what a submission may read from a test example — its cell, grid
shape, sequence and Patterson map (amplitudes only; never phases, atoms or the target
map) — to a density map in physical units (e/Å³, no F000) on the example's grid. The
dataset puts each fragment's centre of mass at the cell centre (½, ½, ½), so a map
centred there already has the right origin for its low-resolution terms.

* :func:`zero_map` — all zeros (Pearson undefined, so scored 0; phase error ≈ 90°).
* :func:`patterson_map_centred` — the Patterson map with its origin peak moved to the
  cell centre (a centrosymmetric image of the fragment's vector set).
* :func:`blob_map` — one Gaussian of the fragment's size (radius of gyration from the
  number of residues) at the centre, holding the fragment's electrons.
* :func:`chain_map` — the standard residue cubes of the sequence
  (:func:`crysbench.residue_cubes`) placed along a straight line through the centre,
  along the cell's longest edge, 3.8 Å apart (or closer when the cell is short).

Examples
--------
>>> import numpy as np
>>> blob_map((30.0, 30.0, 30.0, 90.0, 90.0, 90.0), (20, 20, 20), "GAW").shape
(20, 20, 20)
"""

from __future__ import annotations

from collections.abc import Sequence

import gemmi
import numpy as np
from scipy import ndimage

from crysbench import residue_cubes
from crysbench.residue_density import RESIDUE_CUBE_EDGE, RESIDUE_CUBE_SIZE, residue_electrons

__all__ = [
    "KINDS",
    "CA_SPACING",
    "CLEARANCE",
    "radius_of_gyration",
    "zero_map",
    "patterson_map_centred",
    "blob_map",
    "chain_map",
    "trivial_map",
]

#: Cα–Cα distance of a trans peptide (Å): the chain's step when the cell allows it.
CA_SPACING = 3.8
#: Free space kept at each end of the chain (Å); the fragments' boxes have ≥ 3.45 Å.
CLEARANCE = 3.45
#: The trivial baselines, by name.
KINDS = ("zero", "patterson", "blob", "chain")


def radius_of_gyration(n_residues: int) -> float:
    """Radius of gyration (Å) of a compact fragment of ``n_residues``: 2.2·n^0.38.

    The empirical scaling of folded chains (Skolnick et al. 1997); it gives 6.2 Å for
    the 15-residue segments and 2.9 Å for a dipeptide.
    """
    return 2.2 * max(int(n_residues), 1) ** 0.38


def _frac_grid(shape: Sequence[int]) -> np.ndarray:
    """Fractional coordinates of every grid point, shape (3, nu, nv, nw)."""
    axes = [np.arange(n, dtype=np.float64) / n for n in shape]
    return np.stack(np.meshgrid(*axes, indexing="ij"))


def _offsets(cell: Sequence[float], shape: Sequence[int], centre: np.ndarray) -> np.ndarray:
    """Cartesian minimum-image offsets (Å) of the grid points from a fractional centre.

    Returns an array of shape (nu, nv, nw, 3). The minimum image is taken in
    fractional coordinates, exact for the near-orthogonal cells of the dataset and
    within a few per cent of the true nearest image in oblique ones.
    """
    uc = gemmi.UnitCell(*cell)
    orth = np.array(uc.orth.mat.tolist())
    d = _frac_grid(shape) - np.asarray(centre, dtype=np.float64)[:, None, None, None]
    d -= np.round(d)
    return np.einsum("ij,j...->...i", orth, d)


def zero_map(cell: Sequence[float], shape: Sequence[int]) -> np.ndarray:
    """All zeros on the example's grid."""
    return np.zeros(tuple(int(n) for n in shape), dtype=np.float32)


def patterson_map_centred(patterson: np.ndarray, sequence: str) -> np.ndarray:
    """The Patterson map shifted by half a cell, so its origin peak is at (½, ½, ½).

    The map is divided by ΣZ²/ΣZ over the sequence's heavy atoms, which turns the
    origin peak Σ Z_j·ρ_j(0) into roughly one atom's peak density (e/Å³).
    """
    from crysbench.residue_density import residue_atoms

    zs = [gemmi.Element(e).atomic_number for r in sequence for e in residue_atoms(r)[1]]
    zs = np.asarray(zs or [6], dtype=np.float64)
    p = np.fft.fftshift(np.asarray(patterson, dtype=np.float64))
    return (p * zs.sum() / (zs**2).sum()).astype(np.float32)


def blob_map(cell: Sequence[float], shape: Sequence[int], sequence: str) -> np.ndarray:
    """A Gaussian of the fragment's radius of gyration at the cell centre.

    σ = R_g/√3 (an isotropic Gaussian has R_g² = 3σ²); the integral is the number of
    electrons of the sequence, the mean is removed (no F000, like the targets).
    """
    sigma = radius_of_gyration(len(sequence)) / np.sqrt(3.0)
    r2 = (_offsets(cell, shape, np.array([0.5, 0.5, 0.5])) ** 2).sum(-1)
    electrons = float(sum(residue_electrons(r) for r in sequence))
    rho = electrons * np.exp(-r2 / (2 * sigma**2)) / (2 * np.pi * sigma**2) ** 1.5
    return (rho - rho.mean()).astype(np.float32)


def chain_positions(cell: Sequence[float], n: int) -> np.ndarray:
    """Fractional centres of ``n`` residues on a straight line through (½, ½, ½).

    The line runs along the longest cell edge; the step is :data:`CA_SPACING`, or less
    when the chain would come closer than :data:`CLEARANCE` to the cell's faces.
    """
    lengths = np.asarray(cell[:3], dtype=np.float64)
    axis = int(np.argmax(lengths))
    room = max(lengths[axis] - 2 * CLEARANCE, 0.0)
    step = min(CA_SPACING, room / (n - 1)) if n > 1 else 0.0
    t = (np.arange(n) - (n - 1) / 2) * step / lengths[axis]
    pos = np.full((n, 3), 0.5)
    pos[:, axis] += t
    return pos


def chain_map(cell: Sequence[float], shape: Sequence[int], sequence: str) -> np.ndarray:
    """Residue cubes of the sequence along a straight chain (see :func:`chain_positions`).

    Each 24³ cube (12 Å, 0.5 Å spacing, centre of mass at its centre) is sampled
    trilinearly at the grid points within 6 Å of its residue's position and added.
    """
    shape = tuple(int(n) for n in shape)
    cubes = residue_cubes(sequence)
    rho = np.zeros(shape, dtype=np.float64)
    spacing = RESIDUE_CUBE_EDGE / RESIDUE_CUBE_SIZE
    for cube, centre in zip(cubes, chain_positions(cell, len(sequence)), strict=True):
        off = _offsets(cell, shape, centre)
        idx = off / spacing + RESIDUE_CUBE_SIZE / 2  # cube voxel coordinates
        vals = ndimage.map_coordinates(
            cube.astype(np.float64), idx.reshape(-1, 3).T, order=1, mode="constant"
        )
        rho += vals.reshape(shape)
    return (rho - rho.mean()).astype(np.float32)


def trivial_map(kind: str, item: dict) -> np.ndarray:
    """The ``kind`` trivial map of one loaded example (a :func:`crysbench.load_split` item).

    Reads only ``cell``, ``grid_shape``, ``sequence`` and ``patterson`` (load with
    ``normalize=None`` for physical units).
    """
    cell, shape, seq = tuple(item["cell"]), tuple(item["grid_shape"]), str(item["sequence"])
    if kind == "zero":
        return zero_map(cell, shape)
    if kind == "patterson":
        return patterson_map_centred(item["patterson"], seq)
    if kind == "blob":
        return blob_map(cell, shape, seq)
    if kind == "chain":
        return chain_map(cell, shape, seq)
    raise ValueError(f"unknown trivial baseline {kind!r}; choose from {', '.join(KINDS)}")
