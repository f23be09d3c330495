"""Cutting protein entities into segments with the paper's ids (SPEC §3.1–3.3).

Rule (pinned down by the paper's id list, see ``tests/test_segments.py``): for each
protein entity take its first chain and its modelled polymer residues, numbered
1, 2, … (``N`` in ``PDBID_ENTITY.pd_N`` counts modelled residues only). The
residues split into *runs* at every gap: missing residues or a chain break (peptide
C–N distance above 2.0 Å). What counts as missing residues depends on ``gaps``:

- ``"numbering"`` (recipes @1): a jump in the residue *number*. Numbering schemes
  that skip numbers with the chain intact (TCR/antibody, chymotrypsin) break runs.
- ``"seqres"`` (recipes @2): a residue of the deposited sequence (SEQRES /
  ``entity_poly_seq``) that the model lacks, between two modelled residues. The
  mmCIF ``label_seq_id`` gives each residue's sequence position; PDB files are
  aligned to their SEQRES with gemmi. Without a deposited sequence only the C–N
  check applies (as with pdbfixer, which then finds no missing residue).

Inside each run,
windows of ``segment_length`` residues start at the run's first residue and every
``stride`` residues after it. A window is rejected when it holds a non-standard
residue (after MSE→MET) or a residue with a missing heavy atom. A stride position
whose window would run past a gap is reported as rejected ("crosses a gap").

Checks are done once per chain (per residue), then looked up per window.

Examples
--------
>>> from crysbench.structures import read_entry, bundled_entries
>>> from crysbench.segments import cut_segments
>>> segs, rejected = cut_segments(read_entry(bundled_entries()["3JQH"]), 15, 10)
>>> [s.id for s in segs]
['3JQH_1.pd_1']
"""

from __future__ import annotations

import dataclasses

import gemmi
import numpy as np

from crysbench.residues import HEAVY_ATOMS, ONE_LETTER, RENAMES
from crysbench.structures import Entry

__all__ = [
    "Segment",
    "Rejection",
    "cut_segments",
    "seqres_positions",
    "MAX_PEPTIDE_BOND",
    "GAP_RULES",
]

#: Ways of finding missing residues (see the module docstring).
GAP_RULES = ("numbering", "seqres")

#: Longest C–N distance (Å) still read as a peptide bond.
MAX_PEPTIDE_BOND = 2.0


@dataclasses.dataclass(frozen=True)
class Rejection:
    """A segment (or entry) that was dropped, with the reason."""

    id: str
    reason: str
    stage: str = "segment"


@dataclasses.dataclass
class Segment:
    """A standardised run of residues, ready to be put in a cell.

    Attributes
    ----------
    id : str
        ``PDBID_ENTITY.pd_N``.
    pdb_id, chain : str
    entity, start : int
        Entity number; 1-based index of the first residue among modelled residues.
    sequence : str
        One-letter sequence (MSE read as M).
    elements, atom_names, residue_names : ndarray of str, shape=(n,)
    residue_index : ndarray of int, shape=(n,)
        0-based residue position inside the segment.
    positions : ndarray, shape=(n, 3), dtype=float64
        Cartesian coordinates (Å) in the deposited frame.
    """

    id: str
    pdb_id: str
    entity: int
    chain: str
    start: int
    sequence: str
    elements: np.ndarray
    atom_names: np.ndarray
    residue_names: np.ndarray
    residue_index: np.ndarray
    positions: np.ndarray


@dataclasses.dataclass
class _Res:
    name: str
    atoms: dict[str, tuple[str, np.ndarray]]  # atom name -> (element, xyz)
    problem: str | None


def _standardise_residue(res: gemmi.Residue) -> _Res:
    name = res.name
    renames: dict[str, str] = {}
    if name in RENAMES:
        name, renames = RENAMES[name]
    atoms: dict[str, tuple[str, np.ndarray]] = {}
    for atom in res:
        if atom.is_hydrogen():
            continue
        aname = renames.get(atom.name, atom.name)
        if aname in atoms:  # alternate conformation: keep the first
            continue
        el = "S" if aname == "SD" and name == "MET" else atom.element.name
        atoms[aname] = (el, np.array(atom.pos.tolist()))
    problem = None
    if name not in HEAVY_ATOMS:
        problem = f"non-standard residue {res.name} {res.seqid}"
    else:
        missing = [a for a in HEAVY_ATOMS[name] if a not in atoms]
        if missing:
            problem = f"missing heavy atom {name} {res.seqid} {','.join(missing)}"
        # keep template atoms only (drops OXT), in template order
        atoms = {a: atoms[a] for a in HEAVY_ATOMS[name] if a in atoms}
    return _Res(name, atoms, problem)


def _breaks(polymer: gemmi.ResidueSpan, std: list[_Res]) -> list[str | None]:
    """For each residue i>0: why residues i-1 and i are not bonded (None: bonded)."""
    out: list[str | None] = [None]
    for i in range(1, len(polymer)):
        prev, cur = polymer[i - 1], polymer[i]
        gap = cur.seqid.num - prev.seqid.num
        if gap > 1:
            out.append(f"missing residues between {prev.seqid} and {cur.seqid}")
            continue
        c = std[i - 1].atoms.get("C")
        n = std[i].atoms.get("N")
        if c is not None and n is not None:
            d = float(np.linalg.norm(c[1] - n[1]))
            if d > MAX_PEPTIDE_BOND:
                out.append(f"chain break between {prev.seqid} and {cur.seqid} (C-N {d:.2f} Å)")
                continue
        out.append(None)
    return out


def seqres_positions(entry: Entry, polymer: gemmi.ResidueSpan) -> list[int | None] | None:
    """0-based position in the deposited sequence of each modelled residue.

    ``label_seq_id`` when the file gives it for every residue (mmCIF), else a gemmi
    alignment of SEQRES to the model; ``None`` when the entry has no sequence.
    Residues the alignment leaves out (not in SEQRES) get ``None``.

    Examples
    --------
    >>> from crysbench.structures import read_entry, bundled_entries
    >>> e = read_entry(bundled_entries()["3HSY"])
    >>> pos = seqres_positions(e, e.structure[0]["A"].get_polymer())
    >>> pos[159], pos[160]  # 20 residues of SEQRES are not modelled here
    (159, 180)
    """
    labels = [r.label_seq for r in polymer]
    if all(x is not None for x in labels):
        return [int(x) - 1 for x in labels]
    ent = entry.structure.get_entity_of(polymer)
    if ent is None or not ent.full_sequence:
        return None
    result = gemmi.align_sequence_to_polymer(
        ent.full_sequence, polymer, polymer.check_polymer_type(), gemmi.AlignmentScoring()
    )
    out: list[int | None] = []
    iseq = 0
    for count, op in _cigar(result.cigar_str()):
        if op == "M":
            out.extend(range(iseq, iseq + count))
            iseq += count
        elif op == "I":  # in the sequence, not in the model
            iseq += count
        else:  # "D": in the model, not in the sequence
            out.extend([None] * count)
    return out


def _cigar(cigar: str) -> list[tuple[int, str]]:
    ops, num = [], ""
    for ch in cigar:
        if ch.isdigit():
            num += ch
        else:
            ops.append((int(num), ch))
            num = ""
    return ops


def _breaks_seqres(entry: Entry, polymer: gemmi.ResidueSpan, std: list[_Res]) -> list[str | None]:
    """As :func:`_breaks`, with missing residues found in the deposited sequence."""
    pos = seqres_positions(entry, polymer)
    out: list[str | None] = [None]
    for i in range(1, len(polymer)):
        prev, cur = polymer[i - 1], polymer[i]
        if pos is not None:
            a, b = pos[i - 1], pos[i]
            if a is None or b is None:
                out.append(f"residue not in the deposited sequence at {prev.seqid}/{cur.seqid}")
                continue
            if b - a != 1:
                out.append(
                    f"missing residues between {prev.seqid} and {cur.seqid} "
                    f"(sequence positions {a + 2}-{b})"
                )
                continue
        out.append(_cn_break(prev, cur, std[i - 1], std[i]))
    return out


def _cn_break(prev: gemmi.Residue, cur: gemmi.Residue, a: _Res, b: _Res) -> str | None:
    c = a.atoms.get("C")
    n = b.atoms.get("N")
    if c is not None and n is not None:
        d = float(np.linalg.norm(c[1] - n[1]))
        if d > MAX_PEPTIDE_BOND:
            return f"chain break between {prev.seqid} and {cur.seqid} (C-N {d:.2f} Å)"
    return None


def cut_segments(
    entry: Entry, segment_length: int, stride: int, gaps: str = "numbering"
) -> tuple[list[Segment], list[Rejection]]:
    """All accepted segments of an entry and the rejected windows with reasons.

    Parameters
    ----------
    entry : Entry
        From :func:`crysbench.structures.read_entry`.
    segment_length : int
        Residues per segment.
    stride : int
        Start-to-start offset of consecutive windows inside a run.
    gaps : {"numbering", "seqres"}
        How missing residues are found (module docstring); @1 recipes use
        ``"numbering"``, @2 recipes ``"seqres"``.

    Returns
    -------
    segments : list of Segment
        The segments cut, in chain order.
    rejected : list of Rejection
        What was dropped, and why.
    """
    if gaps not in GAP_RULES:
        raise ValueError(f"unknown gap rule {gaps!r}; known: {GAP_RULES}")
    segments: list[Segment] = []
    rejected: list[Rejection] = []
    model = entry.structure[0]
    for entity, chain_name in entry.entity_chains:
        polymer = model[chain_name].get_polymer()
        std = [_standardise_residue(r) for r in polymer]
        if gaps == "numbering":
            breaks = _breaks(polymer, std)
        else:
            breaks = _breaks_seqres(entry, polymer, std)
        n = len(std)
        run_starts = [i for i in range(n) if i == 0 or breaks[i] is not None]
        run_ends = [s - 1 for s in run_starts[1:]] + [n - 1]
        prefix = f"{entry.pdb_id}_{entity}.pd_"
        for r0, r1 in zip(run_starts, run_ends):
            for s in range(r0, r1 + 1, stride):
                sid = f"{prefix}{s + 1}"
                e = s + segment_length - 1
                if e > r1:
                    if r1 < n - 1:
                        rejected.append(Rejection(sid, f"crosses a gap: {breaks[r1 + 1]}"))
                    break
                problems = [std[i].problem for i in range(s, e + 1) if std[i].problem]
                if problems:
                    rejected.append(Rejection(sid, problems[0]))
                    continue
                segments.append(_make_segment(entry, entity, chain_name, s, std[s : e + 1], sid))
    return segments, rejected


def _make_segment(
    entry: Entry, entity: int, chain: str, start: int, residues: list[_Res], sid: str
) -> Segment:
    el, an, rn, ri, xyz = [], [], [], [], []
    for k, res in enumerate(residues):
        for aname, (elem, pos) in res.atoms.items():
            el.append(elem)
            an.append(aname)
            rn.append(res.name)
            ri.append(k)
            xyz.append(pos)
    return Segment(
        id=sid,
        pdb_id=entry.pdb_id,
        entity=entity,
        chain=chain,
        start=start + 1,
        sequence="".join(ONE_LETTER[r.name] for r in residues),
        elements=np.array(el),
        atom_names=np.array(an),
        residue_names=np.array(rn),
        residue_index=np.array(ri, dtype=np.int32),
        positions=np.array(xyz, dtype=np.float64),
    )
