"""Standard residue density cubes (crysbench.residue_density)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from crysbench.residue_density import (
    RESIDUE_CUBE_EDGE,
    RESIDUE_CUBE_SIZE,
    residue_atoms,
    residue_cube,
    residue_cubes,
    residue_electrons,
)
from crysbench.residues import HEAVY_ATOMS, ONE_LETTER

ALL = "ACDEFGHIKLMNPQRSTVWY"
VOXEL = (RESIDUE_CUBE_EDGE / RESIDUE_CUBE_SIZE) ** 3


def test_shape_dtype_and_order():
    cubes = residue_cubes("GAW")
    assert RESIDUE_CUBE_SIZE == 24
    assert cubes.shape == (3, 24, 24, 24)
    assert cubes.dtype == np.float32
    np.testing.assert_array_equal(cubes[2], residue_cube("TRP"))
    np.testing.assert_array_equal(cubes[0], residue_cube("G"))
    assert residue_cubes("").shape == (0, 24, 24, 24)


def test_deterministic_and_not_aliased():
    a = residue_cubes("MK")
    a[:] = 0  # the returned array is a copy: the cache must not change
    b = residue_cubes("MK")
    assert b.any()
    np.testing.assert_array_equal(b, residue_cubes("MK"))


@pytest.mark.parametrize("code", list(ALL))
def test_integral_is_number_of_electrons(code):
    cube = residue_cube(code)
    assert cube.min() >= 0
    electrons = residue_electrons(code)
    assert abs(float(cube.sum()) * VOXEL - electrons) < 0.02 * electrons


def test_atoms_match_templates_and_geometry():
    for three, one in ONE_LETTER.items():
        names, elements, pos = residue_atoms(one)
        assert tuple(names) == HEAVY_ATOMS[three]
        assert [e[0] for e in elements] == [n[0] for n in names]
        d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
        np.fill_diagonal(d, np.inf)
        assert 1.2 < d.min() < 1.6, three  # bonded neighbours, no clashes
        assert np.linalg.norm(pos, axis=1).max() < RESIDUE_CUBE_EDGE / 2  # fits the box


def test_cubes_are_distinct_and_heavier_is_denser():
    cubes = {c: residue_cube(c) for c in ALL}
    for a, b in itertools.combinations(ALL, 2):
        assert not np.allclose(cubes[a], cubes[b]), (a, b)
    assert cubes["W"].sum() > 3 * cubes["G"].sum()
    # the centre of mass sits at the centre of the cell
    grid = np.arange(RESIDUE_CUBE_SIZE) * (RESIDUE_CUBE_EDGE / RESIDUE_CUBE_SIZE)
    com = [float((cubes["A"].sum(axis=tuple(j for j in range(3) if j != i)) * grid).sum())
           / float(cubes["A"].sum()) for i in range(3)]  # fmt: skip
    np.testing.assert_allclose(com, RESIDUE_CUBE_EDGE / 2, atol=0.3)


def test_unknown_residue():
    with pytest.raises(KeyError, match="unknown one-letter"):
        residue_cubes("AXG")
