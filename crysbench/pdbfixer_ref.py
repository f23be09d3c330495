"""The paper's filter run with pdbfixer itself: a reference for the fast path.

The build does not use this module and does not need OpenMM; it exists so that the
in-package rules of :mod:`crysbench.segments` (``gaps="seqres"``) can be checked
against pdbfixer's ``findMissingResidues``, ``findNonstandardResidues`` and
``findMissingAtoms`` on real entries (``tests/test_pdbfixer_agreement.py``,
``benchmarks/pdbfixer_filter.py``). It needs ``pip install pdbfixer openmm`` (the
``dev`` extra).

The verdict of a window follows the paper: a window is dropped when one of its
residues is non-standard (pdbfixer's table or MODRES; MSE is kept, it is rebuilt as
MET), lacks a heavy atom of its template (terminal OXT not required), or when
pdbfixer inserts missing residues between two of its residues. pdbfixer does not
see a chain break where residues are not missing, so the peptide C–N check of
:mod:`crysbench.segments` is applied on top, as in the fast path.

Examples
--------
>>> from crysbench.pdbfixer_ref import pdbfixer_flags  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import time
from pathlib import Path

from crysbench.structures import Entry

__all__ = ["ResidueFlags", "pdbfixer_flags", "pdbfixer_windows"]


@dataclasses.dataclass
class ResidueFlags:
    """pdbfixer's findings for the modelled residues of one chain, in order.

    Attributes
    ----------
    keys : list of (int, str)
        (residue number, insertion code) of each residue.
    problem : list of str or None
        Non-standard residue or missing heavy atoms, else None.
    gap_before : list of bool
        pdbfixer inserts missing residues right before this residue (index > 0).
    """

    keys: list[tuple[int, str]]
    problem: list[str | None]
    gap_before: list[bool]


def _fixer(path: str | Path):
    from pdbfixer import PDBFixer

    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    text = raw.decode("utf-8", errors="replace")
    if text.lstrip().startswith("data_"):
        return PDBFixer(pdbxfile=io.StringIO(text))
    return PDBFixer(pdbfile=io.StringIO(text))


def pdbfixer_flags(entry: Entry) -> tuple[dict[str, ResidueFlags], float]:
    """Run pdbfixer's three finders on an entry's file.

    Parameters
    ----------
    entry : Entry
        From :func:`crysbench.structures.read_entry`; its ``entity_chains`` name
        the chains reported.

    Returns
    -------
    flags : dict of str to ResidueFlags
        By chain name, for the chains of ``entry.entity_chains``; residues as
        pdbfixer's topology has them (amino acids of that chain).
    seconds : float
        Wall time of reading plus the three finders.
    """
    t0 = time.perf_counter()
    fixer = _fixer(entry.path)
    fixer.findMissingResidues()
    fixer.findNonstandardResidues()
    fixer.findMissingAtoms()
    seconds = time.perf_counter() - t0
    # a MODRES record that names the residue itself (ASN -> ASN at a glycosylation
    # site) is listed by pdbfixer but replaces nothing; the paper kept such windows
    # (3HSY_1.pd_201, _211, _321 hold glycosylated ASN 235 and ASN 349)
    nonstd = {r: name for r, name in fixer.nonstandardResidues if name != r.name}
    gaps = {key for key, names in fixer.missingResidues.items() if names}
    # openmm names mmCIF chains by label_asym_id, gemmi by auth_asym_id
    cif = Path(entry.path).name.split(".")[1] == "cif"
    wanted = {}
    for _, name in entry.entity_chains:
        polymer = entry.structure[0][name].get_polymer()
        wanted[polymer.subchain_id() if cif else name] = name
    out: dict[str, ResidueFlags] = {}
    for chain in fixer.topology.chains():
        if chain.id not in wanted or wanted[chain.id] in out:
            continue
        residues = list(chain.residues())
        if not any(r.name in _AMINO or r.name in _KEEP for r in residues):
            continue
        keys, problem, gap_before = [], [], []
        for i, res in enumerate(residues):
            if res.name not in _AMINO and res.name not in _KEEP and res not in nonstd:
                # ligands and waters share the chain in PDB files; they are not polymer
                continue
            keys.append((int(res.id), (res.insertionCode or " ").strip() or " "))
            why = None
            if res in nonstd and res.name not in _KEEP:
                why = f"non-standard residue {res.name} {res.id}"
            elif res in fixer.missingAtoms:
                names = ",".join(a.name for a in fixer.missingAtoms[res])
                why = f"missing heavy atom {res.name} {res.id} {names}"
            problem.append(why)
            gap_before.append(i > 0 and (chain.index, i) in gaps)
        out[wanted[chain.id]] = ResidueFlags(keys, problem, gap_before)
    return out, seconds


def pdbfixer_windows(
    entry: Entry, flags: dict[str, ResidueFlags], segment_length: int, stride: int
) -> set[str]:
    """Ids of the windows the pdbfixer verdict (plus the C–N check) accepts.

    Windows are laid out as in :func:`crysbench.segments.cut_segments`: runs split
    at pdbfixer's missing residues and at C–N breaks, windows from each run start.
    """
    import numpy as np

    from crysbench.segments import MAX_PEPTIDE_BOND

    accepted: set[str] = set()
    model = entry.structure[0]
    for entity, chain_name in entry.entity_chains:
        f = flags.get(chain_name)
        polymer = model[chain_name].get_polymer()
        if f is None:
            continue
        index = {k: i for i, k in enumerate(f.keys)}
        order = [index.get((r.seqid.num, r.seqid.icode)) for r in polymer]
        n = len(polymer)
        brk = [False] * n
        for i in range(1, n):
            a, b = order[i - 1], order[i]
            if a is None or b is None or b != a + 1 or f.gap_before[b]:
                brk[i] = True
                continue
            c = polymer[i - 1].find_atom("C", "*")
            nn = polymer[i].find_atom("N", "*")
            if c is not None and nn is not None:
                d = float(np.linalg.norm(np.array(c.pos.tolist()) - np.array(nn.pos.tolist())))
                brk[i] = d > MAX_PEPTIDE_BOND
        bad = [order[i] is None or f.problem[order[i]] is not None for i in range(n)]
        starts = [i for i in range(n) if i == 0 or brk[i]]
        ends = [s - 1 for s in starts[1:]] + [n - 1]
        for r0, r1 in zip(starts, ends):
            for s in range(r0, r1 + 1, stride):
                e = s + segment_length - 1
                if e > r1:
                    break
                if not any(bad[s : e + 1]):
                    accepted.add(f"{entry.pdb_id}_{entity}.pd_{s + 1}")
    return accepted


_AMINO = {
    "ALA", "ARG", "ASN", "ASP", "CYS", "GLN", "GLU", "GLY", "HIS", "ILE",
    "LEU", "LYS", "MET", "PHE", "PRO", "SER", "THR", "TRP", "TYR", "VAL",
}  # fmt: skip
_KEEP = {"MSE"}  # rebuilt as MET by the recipe, not a reason to drop
