"""Standard amino-acid residues: names and heavy-atom templates.

The paper found missing atoms with pdbfixer, whose templates for the 20 standard
amino acids list exactly these heavy atoms (terminal OXT aside). A table is written
out here instead of depending on OpenMM + pdbfixer (hundreds of MB) for 20 lists.
"""

from __future__ import annotations

__all__ = ["HEAVY_ATOMS", "STANDARD_RESIDUES", "ONE_LETTER", "RENAMES"]

_BACKBONE = ("N", "CA", "C", "O")

#: Heavy atoms of each standard residue (no OXT, no hydrogens).
HEAVY_ATOMS: dict[str, tuple[str, ...]] = {
    "ALA": _BACKBONE + ("CB",),
    "ARG": _BACKBONE + ("CB", "CG", "CD", "NE", "CZ", "NH1", "NH2"),
    "ASN": _BACKBONE + ("CB", "CG", "OD1", "ND2"),
    "ASP": _BACKBONE + ("CB", "CG", "OD1", "OD2"),
    "CYS": _BACKBONE + ("CB", "SG"),
    "GLN": _BACKBONE + ("CB", "CG", "CD", "OE1", "NE2"),
    "GLU": _BACKBONE + ("CB", "CG", "CD", "OE1", "OE2"),
    "GLY": _BACKBONE,
    "HIS": _BACKBONE + ("CB", "CG", "ND1", "CD2", "CE1", "NE2"),
    "ILE": _BACKBONE + ("CB", "CG1", "CG2", "CD1"),
    "LEU": _BACKBONE + ("CB", "CG", "CD1", "CD2"),
    "LYS": _BACKBONE + ("CB", "CG", "CD", "CE", "NZ"),
    "MET": _BACKBONE + ("CB", "CG", "SD", "CE"),
    "PHE": _BACKBONE + ("CB", "CG", "CD1", "CD2", "CE1", "CE2", "CZ"),
    "PRO": _BACKBONE + ("CB", "CG", "CD"),
    "SER": _BACKBONE + ("CB", "OG"),
    "THR": _BACKBONE + ("CB", "OG1", "CG2"),
    "TRP": _BACKBONE + ("CB", "CG", "CD1", "CD2", "NE1", "CE2", "CE3", "CZ2", "CZ3", "CH2"),
    "TYR": _BACKBONE + ("CB", "CG", "CD1", "CD2", "CE1", "CE2", "CZ", "OH"),
    "VAL": _BACKBONE + ("CB", "CG1", "CG2"),
}

STANDARD_RESIDUES: tuple[str, ...] = tuple(sorted(HEAVY_ATOMS))

ONE_LETTER: dict[str, str] = {
    "ALA": "A", "ARG": "R", "ASN": "N", "ASP": "D", "CYS": "C", "GLN": "Q", "GLU": "E",
    "GLY": "G", "HIS": "H", "ILE": "I", "LEU": "L", "LYS": "K", "MET": "M", "PHE": "F",
    "PRO": "P", "SER": "S", "THR": "T", "TRP": "W", "TYR": "Y", "VAL": "V",
}  # fmt: skip

#: Residues rebuilt as a standard one: name -> (new name, {old atom: new atom}).
RENAMES: dict[str, tuple[str, dict[str, str]]] = {"MSE": ("MET", {"SE": "SD"})}
