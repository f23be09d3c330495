"""The SHELXD baseline's truth-free hand decision, its store step, determinism and SHELX files."""

from __future__ import annotations

import csv
import types

import gemmi
import numpy as np
import pytest
from test_shelxd import Blind, tiny_example

from baselines.shelxd import Params, driver, solve_example
from baselines.shelxd.hand import apply_hand, invert_map, tripeptides
from baselines.shelxd.predict import hand_store
from baselines.shelxd.solver import density_from_phases
from crysbench.refine import shelxe


def _dihedral(a, b, c, d) -> float:
    b0, b1, b2 = a - b, c - b, d - c
    b1 = b1 / np.linalg.norm(b1)
    v, w = b0 - b0 @ b1 * b1, b2 - b2 @ b1 * b1
    return float(np.degrees(np.arctan2(np.cross(b1, v) @ w, v @ w)))


def test_tripeptides_have_ideal_geometry_and_the_protein_twist():
    helix, strand = (t.reshape(3, 5, 3) for t in tripeptides())
    for tri, (phi, psi) in ((helix, (-57, -47)), (strand, (-120, 130))):
        ca = tri[:, 1]
        assert np.linalg.norm(ca[1] - ca[0]) == pytest.approx(3.80, abs=0.02)  # trans peptide
        assert _dihedral(tri[0, 2], tri[1, 0], tri[1, 1], tri[1, 2]) == pytest.approx(phi)
        assert _dihedral(tri[1, 0], tri[1, 1], tri[1, 2], tri[2, 0]) == pytest.approx(psi)
        assert np.allclose(tri[1, 1], 0)  # middle Cα at the origin
    # α-helix: i→i+2 Cα distance 5.4 Å (strand ≈ 6.7 Å); mirror images swap nothing of that,
    # but the L template's Cβ sits on the other side of the N–Cα–C plane than the D one's
    assert np.linalg.norm(helix[2, 1] - helix[0, 1]) == pytest.approx(5.45, abs=0.1)
    n, ca, c, cb = helix[1, 0], helix[1, 1], helix[1, 2], helix[1, 4]
    assert np.cross(n - ca, c - ca) @ (cb - ca) > 1.0


@pytest.fixture(scope="module")
def solved_like(var_res_examples):
    """A train-split (1A8O) map of solved quality: |F| with true phases + 30° noise."""
    out = []
    for ex in var_res_examples[1:2]:
        rng = np.random.default_rng(3)
        phases = np.angle(ex.F) + rng.vonmises(0.0, 4.0, len(ex.F))
        rho = density_from_phases(ex.hkl, np.abs(ex.F), phases, ex.cell, tuple(ex.grid_shape))
        out.append((ex, rho.astype(np.float32)))
    return out


def test_hand_decision_flips_a_mirrored_map_back(solved_like):
    for ex, rho in solved_like:
        kept, inverted, margin = apply_hand(rho, ex.cell)
        assert not inverted and margin > 0 and kept.tobytes() == rho.tobytes()
        back, inverted, margin_m = apply_hand(invert_map(rho), ex.cell)
        assert inverted and margin_m < 0
        assert back.tobytes() == rho.tobytes()  # exactly the original map


def test_hand_decision_is_deterministic(solved_like):
    ex, rho = solved_like[0]
    assert apply_hand(rho, ex.cell)[2] == apply_hand(rho.copy(), ex.cell)[2]


class CellOnly:
    """An example of which the hand step may read the cell only."""

    def __init__(self, ex):
        self.cell = ex.cell

    def __getattr__(self, name):  # F, density, positions, sequence, ...
        raise AssertionError(f"the hand step read {name!r}")


def test_hand_store_reads_maps_and_cells_only_and_is_idempotent(tmp_path, solved_like):
    ex, rho = solved_like[0]
    exs = {f"{ex.id}_{k}": (ex, rho) for k in "ab"}
    store = types.SimpleNamespace(ids=lambda split: sorted(exs), get=lambda i: CellOnly(exs[i][0]))
    first, second = sorted(exs)
    np.save(tmp_path / f"{first}.npy", invert_map(exs[first][1]))  # the wrong hand
    np.save(tmp_path / f"{second}.npy", exs[second][1])
    rows = hand_store(store, "test", tmp_path, progress=False)
    assert [(r["id"], r["inverted"]) for r in rows] == [(first, 1), (second, 0)]
    for i in exs:
        assert np.load(tmp_path / f"{i}.npy").tobytes() == exs[i][1].tobytes()
    assert hand_store(store, "test", tmp_path, progress=False) == []  # already decided
    with open(tmp_path / "hand.csv") as fh:
        assert [r["id"] for r in csv.DictReader(fh)] == [first, second]


def test_same_example_seed_and_trials_give_the_same_bytes():
    ex = tiny_example(7)
    kw = dict(trials=4, block=2, seed=3, params=Params(hio_iters=100, er_iters=20))
    a, b = solve_example(Blind(ex), **kw), solve_example(Blind(ex), **kw)
    assert a.density.tobytes() == b.density.tobytes() and a.phases.tobytes() == b.phases.tobytes()
    drop = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert drop(a.trials) == drop(b.trials) and a.inverted == b.inverted
    c = solve_example(Blind(ex), **dict(kw, seed=4))
    assert c.density.tobytes() != a.density.tobytes()  # the seed matters


def test_one_shelx_writer_serves_shelxd_and_shelxe(tmp_path):
    cell = gemmi.UnitCell(24.31, 31.82, 28.44, 90, 100, 110)
    hkl, amp = np.array([[1, -2, 3], [0, 0, 1], [2, 0, 0]]), np.array([2.0e6, 3.0, 50.0])
    assert driver.format_hkl(hkl, amp) == shelxe.format_hkl(hkl, amp)
    shelxe.write_hkl(tmp_path / "x.hkl", hkl, amp)
    text = (tmp_path / "x.hkl").read_text()
    assert text == shelxe.format_hkl(hkl, amp)
    assert text.splitlines()[0] == "   1  -2   3 9999.00   99.99"
    assert text.splitlines()[-1] == "   0   0   0    0.00    0.00"
    comp = {"C": 78, "N": 21, "O": 23, "S": 1}
    ins = driver.format_ins("t", cell, comp)
    base = shelxe.format_ins("t", cell, comp)
    assert ins.startswith(base.removesuffix("END\n"))  # the same crystal data, then FIND ...
    elements = ["C"] * 78 + ["N"] * 21 + ["O"] * 23 + ["S"] + ["H"] * 9
    shelxe.write_ins(tmp_path / "x.ins", cell, elements)
    written = (tmp_path / "x.ins").read_text()
    assert "SFAC C N O S\nUNIT 78 21 23 1\nEND\n" in written
    assert written.replace("crysbench", "t") == base
