"""The paper's filter with pdbfixer vs the in-package fast path, and paper-id reproduction.

Run:  python benchmarks/pdbfixer_filter.py      (needs ``pip install pdbfixer openmm``)

Per bundled entry: seconds for pdbfixer (read + findMissingResidues +
findNonstandardResidues + findMissingAtoms) and for the fast path
(``cut_segments(..., gaps="seqres")``), and whether their windows agree for
dipeptide (2/1) and const-res (15/10) windows; the break points found by each rule
(residue numbering as in @1, the deposited sequence as in @2, pdbfixer, C–N > 2 Å).
Then the paper-id reproduction of the bundled entries in the paper's list, @1 and @2.
"""

from __future__ import annotations

import time

from crysbench.example import examples_from_entry
from crysbench.pdbfixer_ref import pdbfixer_flags, pdbfixer_windows
from crysbench.rcsb import paper_example_ids, paper_reproduction
from crysbench.segments import MAX_PEPTIDE_BOND, Rejection, cut_segments, seqres_positions
from crysbench.structures import bundled_entries, read_entry
from crysbench.variants import get_variant


def break_counts(entry, flags) -> dict[str, int]:
    """Break points (between consecutive modelled residues) per rule, over entity chains."""
    out = {"numbering": 0, "seqres": 0, "pdbfixer": 0, "C-N": 0}
    for _, name in entry.entity_chains:
        pol = entry.structure[0][name].get_polymer()
        pos = seqres_positions(entry, pol)
        for i in range(1, len(pol)):
            out["numbering"] += pol[i].seqid.num - pol[i - 1].seqid.num > 1
            if pos is not None:
                out["seqres"] += pos[i] is None or pos[i - 1] is None or pos[i] - pos[i - 1] != 1
            c, n = pol[i - 1].find_atom("C", "*"), pol[i].find_atom("N", "*")
            if c is not None and n is not None:
                out["C-N"] += c.pos.dist(n.pos) > MAX_PEPTIDE_BOND
        out["pdbfixer"] += sum(flags[name].gap_before) if name in flags else 0
    return out


def main() -> None:
    print("| entry | curated | pdbfixer s | fast s (read + cut) | agree 2/1 | agree 15/10 ", end="")
    print("| breaks: numbering / seqres / pdbfixer / C–N |")
    print("|---|---|---|---|---|---|---|")
    tf = tp = 0.0
    for pid, path in bundled_entries().items():
        t0 = time.perf_counter()
        entry = read_entry(path)
        t_read = time.perf_counter() - t0
        flags, t_fix = pdbfixer_flags(entry)
        t0 = time.perf_counter()
        fast = {
            L: {s.id for s in cut_segments(entry, L, S, gaps="seqres")[0]}
            for L, S in ((2, 1), (15, 10))
        }  # noqa: E501
        t_fast = t_read + (time.perf_counter() - t0) / 2
        ok = [fast[L] == pdbfixer_windows(entry, flags, L, S) for L, S in ((2, 1), (15, 10))]
        b = break_counts(entry, flags)
        tf += t_fast
        tp += t_fix
        print(
            f"| {pid} | {'yes' if not entry.curation_reasons() else 'no'} | {t_fix:.3f} | "
            f"{t_fast:.4f} | {ok[0]} | {ok[1]} | "
            f"{b['numbering']} / {b['seqres']} / {b['pdbfixer']} / {b['C-N']} |"
        )
    n = len(bundled_entries())
    print(f"\nmean seconds per entry: pdbfixer {tp / n:.3f}, fast path {tf / n:.4f}\n")

    paper = {i.split("_")[0] for i in paper_example_ids()}
    in_list = sorted(set(bundled_entries()) & paper)
    print(f"paper-id reproduction, bundled entries in the paper's list: {', '.join(in_list)}")
    for key in ("const-res@1", "const-res@2"):
        v = get_variant(key)
        ids, rej = [], []
        for pid in in_list:
            rejected: list[Rejection] = []
            ids += [
                ex.id for ex in examples_from_entry(read_entry(bundled_entries()[pid]), v, rejected)
            ]  # noqa: E501
            rej += [(r.id, r.reason) for r in rejected]
        rep = paper_reproduction(ids, rej, in_list)
        print(
            f"- {key}: {rep['reproduced']} / {rep['paper_ids']} paper ids reproduced, "
            f"missing {sorted(rep['missing'])}, extra {rep['extra']}"
        )


if __name__ == "__main__":
    main()
