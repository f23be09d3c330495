"""The fast path of recipes @2 gives pdbfixer's verdicts on every bundled entry.

Needs pdbfixer and openmm (installed by the ``dev`` extra); the build needs neither.
"""

import time

import pytest

from crysbench.segments import cut_segments
from crysbench.structures import bundled_entries, read_entry

pytest.importorskip("pdbfixer")
pytest.importorskip("openmm")

from crysbench.pdbfixer_ref import pdbfixer_flags, pdbfixer_windows  # noqa: E402

PIDS = sorted(bundled_entries())


@pytest.fixture(scope="module")
def fixer_results():
    out = {}
    for pid in PIDS:
        entry = read_entry(bundled_entries()[pid])
        flags, seconds = pdbfixer_flags(entry)
        out[pid] = (entry, flags, seconds)
    return out


@pytest.mark.parametrize("pid", PIDS)
@pytest.mark.parametrize("length,stride", [(2, 1), (15, 10)])
def test_fast_path_equals_pdbfixer(fixer_results, pid, length, stride):
    entry, flags, _ = fixer_results[pid]
    segs, _ = cut_segments(entry, length, stride, gaps="seqres")
    assert {s.id for s in segs} == pdbfixer_windows(entry, flags, length, stride)


def test_pdbfixer_finds_the_real_gaps(fixer_results):
    gaps = {
        pid: sorted(k for ch, f in flags.items() for k, g in zip(f.keys, f.gap_before) if g)
        for pid, (_, flags, _) in fixer_results.items()
    }
    assert gaps["3HSY"] == [(184, " ")] and gaps["1BHL"] == [(154, " ")]
    # numbering schemes with intact chains: pdbfixer finds no missing residue either
    assert gaps["3KPR"] == gaps["1GBT"] == gaps["4ZHL"] == []


def test_noop_modres_is_not_a_reason_to_drop(fixer_results):
    """pdbfixer lists glycosylated ASN (MODRES ASN -> ASN); the paper kept those windows."""
    from crysbench.pdbfixer_ref import _fixer

    fixer = _fixer(bundled_entries()["3HSY"])
    fixer.findNonstandardResidues()
    listed = {(r.name, r.id, new) for r, new in fixer.nonstandardResidues}
    assert ("ASN", "235", "ASN") in listed
    entry, flags, _ = fixer_results["3HSY"]
    assert {"3HSY_1.pd_201", "3HSY_1.pd_211", "3HSY_1.pd_321"} <= pdbfixer_windows(
        entry, flags, 15, 10
    )


def test_fast_path_is_faster(fixer_results):
    fast = 0.0
    for pid in PIDS:
        entry = fixer_results[pid][0]
        t0 = time.perf_counter()
        cut_segments(entry, 15, 10, gaps="seqres")
        fast += time.perf_counter() - t0
    slow = sum(r[2] for r in fixer_results.values())
    assert fast < slow
