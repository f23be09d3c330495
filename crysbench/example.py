"""One example: a standardised fragment in its P1 cell, its reflections and maps.

Examples
--------
>>> import crysbench
>>> from crysbench.structures import bundled_entries
>>> ex = next(crysbench.generate_examples(bundled_entries()["1A8O"], variant="const-res"))
>>> ex.id, ex.dmin, ex.density.shape == ex.grid_shape
('1A8O_1.pd_1', 1.5, True)
>>> abs(float(ex.density.mean())) < 1e-5
True
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Iterator
from pathlib import Path

import gemmi
import numpy as np

from crysbench.cell import CellError, build_cell, center_in_cell, draw_angles, orient_by_extent
from crysbench.maps import density_map, grid_shape, patterson_map, structure_factors
from crysbench.segments import Rejection, Segment, cut_segments
from crysbench.structures import CurationRules, Entry, read_entry
from crysbench.variants import Variant, example_rng, get_variant, recipe_constant

__all__ = [
    "Example",
    "FragmentMaps",
    "atom_residue_names",
    "atomic_numbers",
    "make_example",
    "generate_examples",
    "examples_from_entry",
]


class FragmentMaps:
    """Maps and structure of anything with reflections, a cell and atoms (mixin).

    Used by :class:`Example` and by light views of it (``crysbench.scoring.LightExample``).
    """

    @functools.cached_property
    def density(self) -> np.ndarray:
        """Electron density (e/Å³), ndarray float32 of ``grid_shape``, [u, v, w] order."""
        return density_map(self.hkl, self.F, self.cell, self.grid_shape)

    @functools.cached_property
    def patterson(self) -> np.ndarray:
        """Patterson map (e²/Å³), ndarray float32 of ``grid_shape``, origin peak."""
        return patterson_map(self.hkl, self.F, self.cell, self.grid_shape)

    @property
    def structure(self) -> gemmi.Structure:
        """The standardised fragment as a gemmi.Structure in ``cell``, space group P 1.

        B is the recipes' ``b_factor`` (the same in every recipe so far,
        :func:`crysbench.variants.recipe_constant`).
        """
        return fragment_structure(
            self.elements,
            self.atom_names,
            self.residue_names,
            self.residue_index,
            self.positions,
            self.cell,
            self.chain,
            b_factor=recipe_constant("b_factor"),
            name=self.id,
        )


@dataclasses.dataclass
class Example(Segment, FragmentMaps):
    """The example record: a segment in its P1 cell, its reflections, and (from a store) its split.

    One field list for the whole package: a :class:`crysbench.segments.Segment` (the
    fragment before it has a cell) plus the cell and reflections. Examples freshly made
    by :func:`make_example`, read back by :meth:`crysbench.store.Store.get` (the alias
    :class:`crysbench.store.StoredExample`) or held by :class:`crysbench.MemoryStore` are
    all of this type.

    Attributes
    ----------
    id : str
        ``PDBID_ENTITY.pd_N``.
    pdb_id, chain, sequence : str
    entity, start : int
    elements, atom_names, residue_names : ndarray of str, shape=(n,)
    residue_index : ndarray of int32, shape=(n,)
    positions : ndarray, shape=(n, 3), dtype=float64
        Cartesian coordinates in the cell (Å).
    cell : gemmi.UnitCell
    dmin : float
        Resolution limit (Å).
    rate : float
        Sampling rate (dmin / grid spacing).
    grid_shape : tuple of int
        (nu, nv, nw) along a, b, c.
    hkl : ndarray, shape=(m, 3), dtype=int16
        Canonical half sphere of reflections (see :mod:`crysbench.maps`).
    F : ndarray, shape=(m,), dtype=complex64
        Structure factors (electrons).
    split : str or None
        ``"train"``, ``"valid"`` or ``"test"`` once the example is in a store; None before.

    Examples
    --------
    >>> [f.name for f in dataclasses.fields(Example)][:6]
    ['id', 'pdb_id', 'entity', 'chain', 'start', 'sequence']
    """

    cell: gemmi.UnitCell
    dmin: float
    rate: float
    grid_shape: tuple[int, int, int]
    hkl: np.ndarray
    F: np.ndarray
    split: str | None = None
    timings: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)


def atom_residue_names(sequence: str, residue_index: np.ndarray) -> np.ndarray:
    """Three-letter residue name of every atom, from the one-letter sequence.

    Examples
    --------
    >>> atom_residue_names("GA", np.array([0, 0, 1])).tolist()
    ['GLY', 'GLY', 'ALA']
    """
    from crysbench.residues import ONE_LETTER

    three = {v: k for k, v in ONE_LETTER.items()}
    names = np.array([three[c] for c in sequence])
    return names[np.asarray(residue_index, dtype=np.int64)]


def fragment_structure(
    elements: np.ndarray,
    atom_names: np.ndarray,
    residue_names: np.ndarray,
    residue_index: np.ndarray,
    positions: np.ndarray,
    cell: gemmi.UnitCell | None,
    chain: str,
    b_factor: float,
    name: str = "fragment",
) -> gemmi.Structure:
    """Build a one-chain gemmi.Structure (B = ``b_factor``, occupancy 1, all ATOM)."""
    st = gemmi.Structure()
    st.name = name
    if cell is not None:
        st.cell = cell
    st.spacegroup_hm = "P 1"
    model = gemmi.Model("1")
    ch = gemmi.Chain(chain or "A")
    current = None
    res = None
    # Python lists once (tolist gives the same floats), one gemmi.Element per symbol:
    # this loop runs for every atom of every example
    xyz = np.asarray(positions, dtype=np.float64).tolist()
    rindex = np.asarray(residue_index).tolist()
    names, rnames = [str(x) for x in atom_names], [str(x) for x in residue_names]
    for i, el in enumerate(elements):
        ri = rindex[i]
        if ri != current:
            if res is not None:
                ch.add_residue(res)
            res = gemmi.Residue()
            res.name = rnames[i]
            res.seqid = gemmi.SeqId(int(ri) + 1, " ")
            res.entity_type = gemmi.EntityType.Polymer
            res.het_flag = "A"
            current = ri
        atom = gemmi.Atom()
        atom.name = names[i]
        atom.element = _element(str(el))
        atom.pos = gemmi.Position(*xyz[i])
        atom.b_iso = b_factor
        atom.occ = 1.0
        res.add_atom(atom)
    if res is not None:
        ch.add_residue(res)
    model.add_chain(ch)
    st.add_model(model)
    st.setup_entities()
    return st


@functools.cache
def _element(symbol: str) -> gemmi.Element:
    """gemmi's element of a symbol, made once per symbol (weights, atomic numbers)."""
    return gemmi.Element(symbol)


def _masses(elements: np.ndarray) -> np.ndarray:
    return np.array([_element(str(el)).weight for el in elements], dtype=np.float64)


def atomic_numbers(elements: np.ndarray) -> np.ndarray:
    """Atomic numbers of element symbols, shape=(n,), uint8 (the store's ``atoms/element``).

    Examples
    --------
    >>> atomic_numbers(np.array(["C", "N", "O", "S"])).tolist()
    [6, 7, 8, 16]
    """
    return np.array([_element(str(e)).atomic_number for e in elements], dtype=np.uint8)


def make_example(segment: Segment, variant: str | Variant) -> Example:
    """Put a segment in its P1 cell and compute its reflections (SPEC §3.4–3.8).

    Parameters
    ----------
    segment : crysbench.segments.Segment
        The fragment to place: its atoms, positions and identity.
    variant : str or Variant
        Dataset variant (recipe) whose cell, resolution and structure-factor
        settings apply, e.g. ``"var-res"``.

    Returns
    -------
    Example
        The segment in its cell, with its reflections and timings.

    Raises
    ------
    crysbench.cell.CellError
        When the fragment still clashes after maximal growth.
    """
    v = get_variant(variant)
    t0 = time.perf_counter()
    rng = example_rng(v, segment.id, "cell")
    xyz = orient_by_extent(segment.positions)
    angles = draw_angles(rng, v.angle_choices, v.angle_probs)
    cell = build_cell(xyz, angles, v.min_contact, v.cell_step, v.cell_max_growth)
    xyz = center_in_cell(xyz, _masses(segment.elements), cell)
    dmin, rate = v.draw_resolution(segment.id)
    shape = grid_shape(cell, dmin, rate)
    t1 = time.perf_counter()
    st = fragment_structure(
        segment.elements,
        segment.atom_names,
        segment.residue_names,
        segment.residue_index,
        xyz,
        cell,
        segment.chain,
        v.b_factor,
        segment.id,
    )
    hkl, F = structure_factors(st, dmin, v.sf_rate, v.sf_cutoff)
    t2 = time.perf_counter()
    return Example(
        id=segment.id,
        pdb_id=segment.pdb_id,
        entity=segment.entity,
        chain=segment.chain,
        start=segment.start,
        sequence=segment.sequence,
        cell=cell,
        dmin=dmin,
        rate=rate,
        grid_shape=shape,
        hkl=hkl,
        F=F,
        elements=segment.elements,
        atom_names=segment.atom_names,
        residue_names=segment.residue_names,
        residue_index=segment.residue_index,
        positions=xyz,
        timings={"cell": t1 - t0, "structure_factors": t2 - t1},
    )


def examples_from_entry(
    entry: Entry, variant: str | Variant, rejected: list[Rejection] | None = None
) -> Iterator[Example]:
    """Examples of one parsed entry; dropped segments are appended to ``rejected``."""
    v = get_variant(variant)
    segments, rej = cut_segments(entry, v.segment_length, v.stride, gaps=v.gap_rule)
    if rejected is not None:
        rejected.extend(rej)
    for seg in segments:
        try:
            yield make_example(seg, v)
        except CellError as exc:
            if rejected is not None:
                rejected.append(Rejection(seg.id, str(exc), "cell"))


def generate_examples(
    path: str | Path,
    variant: str | Variant = "var-res",
    rejected: list[Rejection] | None = None,
    curate: bool = False,
) -> Iterator[Example]:
    """All examples of one PDB/mmCIF file, in id order.

    Parameters
    ----------
    path : str or Path
        A PDB or mmCIF file, optionally gzipped.
    variant : str or Variant
        ``"dipeptide"``, ``"const-res"``, ``"var-res"``, optionally ``@version``.
    rejected : list, optional
        When given, every rejected segment is appended as a
        :class:`crysbench.segments.Rejection` (id, reason, stage).
    curate : bool
        Apply the recipe's entry-level curation rules first
        (:meth:`crysbench.structures.CurationRules.for_recipe`); a failing entry yields nothing
        and adds one rejection per reason with stage ``"entry"``.

    Yields
    ------
    Example
    """
    entry = read_entry(path)
    v = get_variant(variant)
    if curate:
        reasons = entry.curation_reasons(CurationRules.for_recipe(v.curation))
        if reasons:
            if rejected is not None:
                rejected.extend(Rejection(entry.pdb_id, r, "entry") for r in reasons)
            return
    yield from examples_from_entry(entry, v, rejected)
