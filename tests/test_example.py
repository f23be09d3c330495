"""crysbench.example: the one example record (fields of a Segment plus the cell and the
reflections), shared by generated, stored and in-memory examples."""

from __future__ import annotations

import dataclasses

import numpy as np

import crysbench
from crysbench.example import Example, atom_residue_names, make_example
from crysbench.segments import Segment, cut_segments
from crysbench.structures import read_entry


def test_one_field_list_segment_then_cell_and_reflections():
    seg = [f.name for f in dataclasses.fields(Segment)]
    ex = [f.name for f in dataclasses.fields(Example)]
    assert ex[: len(seg)] == seg  # an Example is a Segment in its cell
    assert ex[len(seg) :] == ["cell", "dmin", "rate", "grid_shape", "hkl", "F", "split", "timings"]
    from crysbench.store import StoredExample

    assert StoredExample is Example and crysbench.Example is Example


def test_make_example_keeps_the_segment_and_adds_the_cell(entries):
    segs, _ = cut_segments(read_entry(entries["3JQH"]), 2, 1)
    ex = make_example(segs[0], "dipeptide@1")
    assert isinstance(ex, Segment) and ex.split is None
    for name in ("id", "pdb_id", "entity", "chain", "start", "sequence"):
        assert getattr(ex, name) == getattr(segs[0], name)
    assert np.array_equal(ex.residue_names, segs[0].residue_names)
    assert not np.allclose(ex.positions, segs[0].positions)  # moved into the cell
    assert ex.density.shape == ex.grid_shape and ex.hkl.dtype == np.int16


def test_atom_residue_names_from_the_sequence(entries):
    ex = next(crysbench.generate_examples(entries["3JQH"], "dipeptide@1"))
    assert np.array_equal(atom_residue_names(ex.sequence, ex.residue_index), ex.residue_names)
    assert atom_residue_names("MW", np.array([1, 0, 0])).tolist() == ["TRP", "MET", "MET"]
