"""Standard residue densities: the partial-structure input of RecCrysFormer (SPEC §5).

For each of the 20 standard amino acids the package builds one ideal conformation
from standard internal coordinates (bond lengths and angles close to Engh & Huber;
side-chain dihedrals of the most common rotamer of the Lovell et al. penultimate
library; a single extended backbone), puts its centre of mass at the centre of a
12 Å cubic P1 cell, and computes its electron density with gemmi's X-ray
scattering factors (the recipes' B of 20 Å², occupancy 1, no hydrogens) on a 24³ grid
(0.5 Å spacing, like the const-res maps). Nothing is downloaded: the geometry
is the small table below, converted to Cartesian coordinates by NeRF.

The density is the real-space model density (not a Fourier synthesis), so it is
non-negative and its integral over the cell is the residue's number of electrons.
The cell is periodic, like the paper's partial structures, which the model reads
with circular padding.

Examples
--------
>>> from crysbench.residue_density import residue_cubes, RESIDUE_CUBE_SIZE
>>> cubes = residue_cubes("GW")
>>> cubes.shape == (2, RESIDUE_CUBE_SIZE, RESIDUE_CUBE_SIZE, RESIDUE_CUBE_SIZE)
True
>>> bool(cubes[1].sum() > cubes[0].sum())
True
"""

from __future__ import annotations

import functools

import gemmi
import numpy as np

from crysbench.residues import HEAVY_ATOMS, ONE_LETTER
from crysbench.variants import recipe_constant

__all__ = [
    "RESIDUE_CUBE_SIZE",
    "RESIDUE_CUBE_EDGE",
    "RESIDUE_B_FACTOR",
    "residue_atoms",
    "residue_cube",
    "residue_cubes",
    "residue_electrons",
]

#: Grid points along each edge of a residue cube.
RESIDUE_CUBE_SIZE = 24
#: Edge of the cubic cell (Å); spacing = edge / size = 0.5 Å.
RESIDUE_CUBE_EDGE = 12.0
#: Isotropic B factor (Å²) of every atom: the recipes' ``b_factor``.
RESIDUE_B_FACTOR = recipe_constant("b_factor")

_THREE = {one: three for three, one in ONE_LETTER.items()}

# Z-matrix rows: (atom, element, a, b, c, bond c-atom, angle b-c-atom, dihedral a-b-c-atom).
# The backbone N, CA, C is placed first; O and CB are common to (almost) all residues.
_BACKBONE = (("O", "O", "N", "CA", "C", 1.231, 120.5, -45.0),)
_CB = (("CB", "C", "N", "C", "CA", 1.530, 110.1, 122.6),)
_SIDE: dict[str, tuple] = {
    "GLY": (),
    "ALA": (),
    "SER": (("OG", "O", "N", "CA", "CB", 1.417, 111.1, 64.0),),
    "CYS": (("SG", "S", "N", "CA", "CB", 1.808, 114.0, -65.0),),
    "THR": (
        ("OG1", "O", "N", "CA", "CB", 1.433, 109.2, 59.0),
        ("CG2", "C", "N", "CA", "CB", 1.521, 111.1, -61.0),
    ),
    "VAL": (
        ("CG1", "C", "N", "CA", "CB", 1.524, 110.7, 175.0),
        ("CG2", "C", "N", "CA", "CB", 1.524, 110.4, -60.0),
    ),
    "ILE": (
        ("CG1", "C", "N", "CA", "CB", 1.530, 110.4, -65.0),
        ("CG2", "C", "N", "CA", "CB", 1.521, 110.5, 175.0),
        ("CD1", "C", "CA", "CB", "CG1", 1.513, 113.9, 170.0),
    ),
    "LEU": (
        ("CG", "C", "N", "CA", "CB", 1.530, 116.3, -65.0),
        ("CD1", "C", "CA", "CB", "CG", 1.521, 110.7, 175.0),
        ("CD2", "C", "CA", "CB", "CG", 1.521, 110.7, 55.0),
    ),
    "MET": (
        ("CG", "C", "N", "CA", "CB", 1.520, 114.1, -65.0),
        ("SD", "S", "CA", "CB", "CG", 1.807, 112.7, 180.0),
        ("CE", "C", "CB", "CG", "SD", 1.791, 100.9, -70.0),
    ),
    "PRO": (
        # flat-ish ring: dihedrals chosen so that CD-N closes at 1.47 Å
        ("CG", "C", "N", "CA", "CB", 1.495, 104.5, 2.0),
        ("CD", "C", "CA", "CB", "CG", 1.507, 105.5, -17.0),
    ),
    "PHE": (
        ("CG", "C", "N", "CA", "CB", 1.502, 113.8, -65.0),
        ("CD1", "C", "CA", "CB", "CG", 1.384, 120.7, -85.0),
        ("CD2", "C", "CA", "CB", "CG", 1.384, 120.7, 95.0),
        ("CE1", "C", "CB", "CG", "CD1", 1.382, 120.7, 180.0),
        ("CE2", "C", "CB", "CG", "CD2", 1.382, 120.7, 180.0),
        ("CZ", "C", "CG", "CD1", "CE1", 1.382, 120.0, 0.0),
    ),
    "TYR": (
        ("CG", "C", "N", "CA", "CB", 1.512, 113.9, -65.0),
        ("CD1", "C", "CA", "CB", "CG", 1.389, 120.8, -85.0),
        ("CD2", "C", "CA", "CB", "CG", 1.389, 120.8, 95.0),
        ("CE1", "C", "CB", "CG", "CD1", 1.382, 121.2, 180.0),
        ("CE2", "C", "CB", "CG", "CD2", 1.382, 121.2, 180.0),
        ("CZ", "C", "CG", "CD1", "CE1", 1.378, 119.6, 0.0),
        ("OH", "O", "CD1", "CE1", "CZ", 1.376, 119.9, 180.0),
    ),
    "TRP": (
        ("CG", "C", "N", "CA", "CB", 1.498, 113.6, -65.0),
        ("CD1", "C", "CA", "CB", "CG", 1.365, 126.9, 95.0),
        ("CD2", "C", "CA", "CB", "CG", 1.433, 126.6, -85.0),
        ("NE1", "N", "CB", "CG", "CD1", 1.374, 110.2, 180.0),
        ("CE2", "C", "CB", "CG", "CD2", 1.409, 107.2, 180.0),
        ("CE3", "C", "CB", "CG", "CD2", 1.398, 133.9, 0.0),
        ("CZ2", "C", "CG", "CD2", "CE2", 1.394, 122.3, 180.0),
        ("CZ3", "C", "CG", "CD2", "CE3", 1.382, 118.7, 180.0),
        ("CH2", "C", "CD2", "CE2", "CZ2", 1.368, 117.5, 0.0),
    ),
    "HIS": (
        ("CG", "C", "N", "CA", "CB", 1.497, 113.8, -65.0),
        ("ND1", "N", "CA", "CB", "CG", 1.378, 122.7, -70.0),
        ("CD2", "C", "CA", "CB", "CG", 1.354, 131.0, 110.0),
        ("CE1", "C", "CB", "CG", "ND1", 1.321, 109.0, 180.0),
        ("NE2", "N", "CB", "CG", "CD2", 1.374, 107.0, 180.0),
    ),
    "ASN": (
        ("CG", "C", "N", "CA", "CB", 1.516, 112.6, -65.0),
        ("OD1", "O", "CA", "CB", "CG", 1.231, 120.8, -20.0),
        ("ND2", "N", "CA", "CB", "CG", 1.328, 116.4, 160.0),
    ),
    "ASP": (
        ("CG", "C", "N", "CA", "CB", 1.516, 112.6, -65.0),
        ("OD1", "O", "CA", "CB", "CG", 1.249, 118.4, -15.0),
        ("OD2", "O", "CA", "CB", "CG", 1.249, 118.4, 165.0),
    ),
    "GLN": (
        ("CG", "C", "N", "CA", "CB", 1.520, 114.1, -65.0),
        ("CD", "C", "CA", "CB", "CG", 1.516, 112.6, 180.0),
        ("OE1", "O", "CB", "CG", "CD", 1.231, 120.8, -25.0),
        ("NE2", "N", "CB", "CG", "CD", 1.328, 116.4, 155.0),
    ),
    "GLU": (
        ("CG", "C", "N", "CA", "CB", 1.520, 114.1, -65.0),
        ("CD", "C", "CA", "CB", "CG", 1.516, 112.6, 180.0),
        ("OE1", "O", "CB", "CG", "CD", 1.249, 118.4, -10.0),
        ("OE2", "O", "CB", "CG", "CD", 1.249, 118.4, 170.0),
    ),
    "LYS": (
        ("CG", "C", "N", "CA", "CB", 1.520, 114.1, -65.0),
        ("CD", "C", "CA", "CB", "CG", 1.520, 111.3, 180.0),
        ("CE", "C", "CB", "CG", "CD", 1.520, 111.3, 180.0),
        ("NZ", "N", "CG", "CD", "CE", 1.489, 111.9, 180.0),
    ),
    "ARG": (
        ("CG", "C", "N", "CA", "CB", 1.520, 114.1, -65.0),
        ("CD", "C", "CA", "CB", "CG", 1.520, 111.3, 180.0),
        ("NE", "N", "CB", "CG", "CD", 1.460, 112.0, 180.0),
        ("CZ", "C", "CG", "CD", "NE", 1.329, 124.2, 180.0),
        ("NH1", "N", "CD", "NE", "CZ", 1.326, 120.0, 0.0),
        ("NH2", "N", "CD", "NE", "CZ", 1.326, 120.0, 180.0),
    ),
}


def _place(
    a: np.ndarray, b: np.ndarray, c: np.ndarray, bond: float, angle: float, dihedral: float
) -> np.ndarray:
    """NeRF: the point d with |cd| = bond, angle bcd = angle, dihedral abcd = dihedral."""
    theta, phi = np.radians(angle), np.radians(dihedral)
    bc = c - b
    bc /= np.linalg.norm(bc)
    n = np.cross(b - a, bc)
    n /= np.linalg.norm(n)
    m = np.cross(n, bc)
    d2 = np.array([-bond * np.cos(theta), bond * np.sin(theta) * np.cos(phi),
                   bond * np.sin(theta) * np.sin(phi)])  # fmt: skip
    return c + d2[0] * bc + d2[1] * m + d2[2] * n


def residue_atoms(name: str) -> tuple[list[str], list[str], np.ndarray]:
    """Heavy atoms of one ideal residue, centred on its centre of mass.

    Parameters
    ----------
    name : str
        Three-letter (``"TRP"``) or one-letter (``"W"``) residue name.

    Returns
    -------
    names : list of str
        Atom names, in the order of :data:`crysbench.residues.HEAVY_ATOMS`.
    elements : list of str
    positions : ndarray, shape=(n, 3), dtype=float64
        Cartesian coordinates (Å) with the centre of mass at the origin.
    """
    res = _three(name)
    xyz: dict[str, np.ndarray] = {
        "N": np.array([0.0, 0.0, 0.0]),
        "CA": np.array([1.458, 0.0, 0.0]),
    }
    ang = np.radians(111.2)
    xyz["C"] = xyz["CA"] + 1.525 * np.array([-np.cos(ang), np.sin(ang), 0.0])
    elements = {"N": "N", "CA": "C", "C": "C"}
    rows = _BACKBONE + (() if res == "GLY" else _CB) + _SIDE[res]
    for atom, el, a, b, c, bond, angle, dihedral in rows:
        xyz[atom] = _place(xyz[a], xyz[b], xyz[c], bond, angle, dihedral)
        elements[atom] = el
    names = list(HEAVY_ATOMS[res])
    pos = np.stack([xyz[n] for n in names])
    els = [elements[n] for n in names]
    mass = np.array([gemmi.Element(e).weight for e in els])
    pos -= (mass[:, None] * pos).sum(0) / mass.sum()
    return names, els, pos


def _three(name: str) -> str:
    key = name.upper()
    if len(key) == 1:
        if key not in _THREE:
            raise KeyError(f"unknown one-letter residue code {name!r}")
        return _THREE[key]
    if key not in _SIDE:
        raise KeyError(f"no standard template for residue {name!r}")
    return key


def residue_electrons(name: str) -> int:
    """Number of electrons of the residue's heavy atoms (sum of atomic numbers)."""
    return int(sum(gemmi.Element(e).atomic_number for e in residue_atoms(name)[1]))


@functools.cache
def _cube(res: str) -> np.ndarray:
    names, els, pos = residue_atoms(res)
    edge = RESIDUE_CUBE_EDGE
    st = gemmi.Structure()
    st.cell = gemmi.UnitCell(edge, edge, edge, 90, 90, 90)
    st.spacegroup_hm = "P 1"
    model = gemmi.Model("1")
    chain = gemmi.Chain("A")
    r = gemmi.Residue()
    r.name = res
    r.seqid = gemmi.SeqId(1, " ")
    for n, e, p in zip(names, els, pos + edge / 2):
        atom = gemmi.Atom()
        atom.name = n
        atom.element = gemmi.Element(e)
        atom.pos = gemmi.Position(*(float(x) for x in p))
        atom.b_iso = RESIDUE_B_FACTOR
        atom.occ = 1.0
        r.add_atom(atom)
    chain.add_residue(r)
    model.add_chain(chain)
    st.add_model(model)
    dc = gemmi.DensityCalculatorX()
    dc.d_min = 2 * edge / RESIDUE_CUBE_SIZE  # spacing d_min / (2 rate) = 0.5 Å
    dc.rate = 1.0
    dc.blur = 0.0
    dc.grid.unit_cell = st.cell
    dc.grid.spacegroup = gemmi.SpaceGroup("P 1")
    n = RESIDUE_CUBE_SIZE
    dc.grid.set_size(n, n, n)
    dc.grid.fill(0.0)
    dc.add_model_density_to_grid(st[0])
    out = np.array(dc.grid.array, dtype=np.float32, copy=True)
    out.setflags(write=False)
    return out


def residue_cube(name: str) -> np.ndarray:
    """The 24³ standard density cube (e/Å³, [x, y, z] order) of one residue.

    Cached per residue; the returned array is read-only.

    Parameters
    ----------
    name : str
        Three-letter or one-letter residue name.

    Returns
    -------
    ndarray, shape=(24, 24, 24), dtype=float32
    """
    return _cube(_three(name))


def residue_cubes(sequence: str) -> np.ndarray:
    """Standard density cubes of a sequence, in sequence order.

    Parameters
    ----------
    sequence : str
        One-letter codes of the 20 standard amino acids.

    Returns
    -------
    ndarray, shape=(len(sequence), 24, 24, 24), dtype=float32
        A new array (writable).

    Raises
    ------
    KeyError
        For a letter that is not one of the 20 standard amino acids.
    """
    n = RESIDUE_CUBE_SIZE
    if not sequence:
        return np.zeros((0, n, n, n), dtype=np.float32)
    return np.stack([residue_cube(c) for c in sequence])
