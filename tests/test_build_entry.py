"""The per-entry stage's checks (crysbench.build_entry)."""

import math

import gemmi
import numpy as np
import pytest

from crysbench.build_entry import MAX_COORDINATE, MAX_RESIDUE_EXTENT, absurd_coordinates
from crysbench.structures import bundled_entries


def _reference(structure: gemmi.Structure) -> str | None:
    """Residue by residue, as the check is defined (the oracle of the vectorised one)."""
    for chain in structure[0]:
        for res in chain:
            info = gemmi.find_tabulated_residue(res.name)
            if len(res) == 0 or info is None or not info.is_amino_acid():
                continue
            xyz = [a.pos.tolist() for a in res]
            flat = [x for p in xyz for x in p]
            if not all(math.isfinite(x) for x in flat) or max(map(abs, flat)) > MAX_COORDINATE:
                return f"coordinates out of range in {chain.name} {res.name} {res.seqid}"
            far = max(math.dist(p, xyz[0]) for p in xyz)
            if far > MAX_RESIDUE_EXTENT:
                return (
                    f"atom far from its residue: {chain.name} {res.name} {res.seqid} spans "
                    f"{far:.1f} Å (> {MAX_RESIDUE_EXTENT} Å)"
                )
    return None


@pytest.mark.parametrize(
    "damage",
    [
        [],
        [(5, 2, (9000.0, 0.0, 0.0))],  # far from its residue
        [(7, 0, (1e5, 0.0, 0.0))],  # beyond the PDB range
        [(3, 1, (float("nan"), 0.0, 0.0))],  # not finite
        [(9, 1, (float("inf"), 1.0, 1.0))],
        [(12, 3, (50.0, 50.0, 50.0)), (4, 0, (1e5, 0.0, 0.0))],  # the first residue counts
        [(2, 1, (20.0, 0.0, 0.0))],
    ],
)
def test_absurd_coordinates_equals_the_per_residue_definition(damage):
    st = gemmi.read_structure(str(bundled_entries()["1A8O"]))
    chain = st[0][0]
    for r, a, xyz in damage:
        base = chain[r][0].pos
        chain[r][a].pos = gemmi.Position(
            *(
                x if abs(x) > 1e3 or not np.isfinite(x) else x + c
                for x, c in zip(xyz, base.tolist())
            )
        )
    got = absurd_coordinates(st)
    assert got == _reference(st)
    assert (got is None) == (not damage)
