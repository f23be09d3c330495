"""Oracle tests of crysbench.metrics (known answers, independent of the implementation)."""

from __future__ import annotations

import numpy as np
import pytest

import crysbench
from crysbench import metrics as M
from crysbench.maps import inv_d2, synthesize
from crysbench.structures import bundled_entries


@pytest.fixture(scope="module")
def ex():
    exs = list(crysbench.generate_examples(bundled_entries()["1A8O"], "var-res"))
    return exs[1]


def test_pearson_known_values():
    assert M.pearson([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0)
    assert M.pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    # scale and offset invariant
    a = np.random.default_rng(0).normal(size=100)
    assert M.pearson(a, 3 * a + 7) == pytest.approx(1.0)
    assert np.isnan(M.pearson([1, 1, 1], [1, 2, 3]))


def test_map_to_sf_matches_example_F(ex):
    F = M.map_to_sf(ex.density, ex.cell, ex.hkl)
    assert np.abs(F - ex.F).max() < 1e-4 * np.abs(ex.F).max()


def test_map_to_sf_single_wave_sign():
    # ρ(x) = (2/V) Re[F e^{-2πi h·x}] for one reflection: F recovered with its phase
    import gemmi

    cell = gemmi.UnitCell(10, 11, 12, 90, 90, 90)
    hkl = np.array([[1, 2, 3]], dtype=np.int16)
    F = np.array([5 * np.exp(1j * 0.7)])
    u, v, w = np.meshgrid(*(np.arange(n) / n for n in (16, 18, 20)), indexing="ij")
    rho = 2 / cell.volume * np.real(F[0] * np.exp(-2j * np.pi * (u + 2 * v + 3 * w)))
    got = M.map_to_sf(rho, cell, hkl)
    assert got[0] == pytest.approx(F[0], abs=1e-9)


def test_truth_vs_truth(ex):
    r = M.example_metrics(ex.density, ex.density, ex.F, ex.hkl, ex.cell, origin_search=True)
    assert r["pearson"] == pytest.approx(1.0)
    assert r["amplitude_pearson"] == pytest.approx(1.0)
    assert r["phase_error"] < 1e-3
    assert r["phase_error_aligned"] < 1e-3
    assert all(s["phase_error"] < 1e-3 for s in r["shells"])


@pytest.mark.parametrize("shift", [10.0, 45.0, 120.0, 180.0])
def test_constant_phase_shift_gives_that_error(ex, shift):
    Fp = ex.F * np.exp(1j * np.deg2rad(shift))
    assert M.phase_error(Fp, ex.F) == pytest.approx(shift, abs=1e-3)
    assert M.phase_error(Fp, ex.F, np.abs(ex.F)) == pytest.approx(shift, abs=1e-3)
    # via a map: the shifted coefficients synthesised and transformed back
    pred = synthesize(ex.hkl, Fp, ex.grid_shape, ex.cell.volume)
    r = M.example_metrics(pred, ex.density, ex.F, ex.hkl, ex.cell)
    assert r["phase_error"] == pytest.approx(shift, abs=0.01)
    for s in r["shells"]:
        assert s["phase_error"] == pytest.approx(shift, abs=0.01)


def test_random_phases_near_90(ex):
    rng = np.random.default_rng(1)
    Fr = np.abs(ex.F) * np.exp(2j * np.pi * rng.random(len(ex.F)))
    pe = M.phase_error(Fr, ex.F)
    # mean of U(0,180) over m reflections: sd = 52/sqrt(m)
    assert abs(pe - 90.0) < 5 * 52 / np.sqrt(len(ex.F))


def test_origin_shift_recovered_by_origin_search(ex):
    nu, nv, nw = ex.grid_shape
    shift = (3, 5, 2)  # voxels
    pred = np.roll(ex.density, shift, axis=(0, 1, 2))
    r = M.example_metrics(pred, ex.density, ex.F, ex.hkl, ex.cell, origin_search=True)
    assert r["phase_error"] > 60
    assert r["phase_error_aligned"] < 1e-2
    assert r["origin_shift"] == pytest.approx([3 / nu, 5 / nv, 2 / nw], abs=1e-6)
    assert r["inverted"] is False


def test_continuous_origin_shift(ex):
    t = np.array([0.123, 0.456, 0.789])
    Fp = ex.F * np.exp(2j * np.pi * (ex.hkl @ t))
    t2, score = M.origin_search(Fp, ex.F, ex.hkl)
    assert np.allclose(t2, t, atol=1e-6)
    assert score == pytest.approx(1.0, abs=1e-9)


def test_enantiomer_recognised_by_hand_search(ex):
    # inversion through the origin: ρ(-x)
    inv = np.roll(ex.density[::-1, ::-1, ::-1], 1, axis=(0, 1, 2))
    F_inv = M.map_to_sf(inv, ex.cell, ex.hkl)
    assert np.allclose(F_inv, np.conj(ex.F), atol=1e-4 * np.abs(ex.F).max())
    r = M.example_metrics(inv, ex.density, ex.F, ex.hkl, ex.cell, origin_search=True)
    assert r["phase_error_aligned"] > 30  # origin search alone cannot fix the hand
    r = M.example_metrics(
        inv, ex.density, ex.F, ex.hkl, ex.cell, origin_search=True, hand_search=True
    )
    assert r["inverted"] is True
    assert r["phase_error_aligned"] < 1e-2
    # hand search alone (no origin search): inversion through the origin needs no shift
    Fa, t, inverted = M.align_origin_hand(F_inv, ex.F, ex.hkl, origin=False, hand=True)
    assert inverted and M.phase_error(Fa, ex.F) < 1e-2


def test_equal_count_shells(ex):
    s = inv_d2(ex.cell, ex.hkl)
    idx = M.shell_index_equal_count(s, 12)
    counts = np.bincount(idx, minlength=12)
    assert counts.sum() == len(s)
    assert counts.max() - counts.min() <= 1
    # shells are ordered in 1/d²
    for i in range(11):
        assert s[idx == i].max() <= s[idx == i + 1].min()
    shells = M.phase_error_by_shell(ex.F, ex.F, s)
    assert [x["n"] for x in shells] == counts.tolist()
    edges = M.shell_edges_equal_count(s, 12)
    assert np.all(np.diff(edges) >= 0) and edges[0] == s.min() and edges[-1] == s.max()


def test_equal_count_with_ties():
    s = np.repeat([0.1, 0.2, 0.3], 8)  # 24 values, 3 distinct
    counts = np.bincount(M.shell_index_equal_count(s, 12))
    assert counts.tolist() == [2] * 12


def test_fixed_shells_cover_all_reflections(ex):
    s = inv_d2(ex.cell, ex.hkl)
    edges = M.fixed_shell_edges(ex.dmin, 12)
    idx = M.assign_shells(s, edges)
    assert (idx >= 0).all()
    # equal reciprocal volume: shell populations roughly equal for a big enough sample
    counts = np.bincount(idx, minlength=12)
    assert counts.min() > 0.7 * counts.mean() and counts.max() < 1.3 * counts.mean()
    # a coarser example leaves the outer shared shells empty
    edges16 = M.fixed_shell_edges(ex.dmin * 0.8, 12)
    shells = M.phase_error_by_shell(ex.F, ex.F, s, edges=edges16)
    assert shells[-1]["n"] == 0 and shells[-1]["phase_error"] is None


def test_shell_phase_errors_by_resolution(ex):
    # error growing with resolution: shells see it, the mean is the reflection average
    s = inv_d2(ex.cell, ex.hkl)
    dphi = 10 + 80 * s / s.max()
    Fp = ex.F * np.exp(1j * np.deg2rad(dphi))
    shells = M.phase_error_by_shell(Fp, ex.F, s)
    pe = [x["phase_error"] for x in shells]
    assert all(a < b for a, b in zip(pe, pe[1:]))
    assert M.phase_error(Fp, ex.F) == pytest.approx(dphi.mean(), abs=1e-3)


def test_torch_versions_agree():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    a = rng.normal(size=(2, 4, 5, 6))
    b = a + rng.normal(size=a.shape)
    got = M.pearson_torch(torch.tensor(a), torch.tensor(b)).numpy()
    assert got == pytest.approx([M.pearson(a[0], b[0]), M.pearson(a[1], b[1])], abs=1e-9)
    F = np.exp(1j * rng.uniform(-3, 3, 50))
    G = F * np.exp(1j * rng.uniform(-1, 1, 50))
    w = rng.random(50)
    pt = M.phase_error_torch(torch.tensor(G), torch.tensor(F), torch.tensor(w)).item()
    assert pt == pytest.approx(M.phase_error(G, F, w), abs=1e-9)


def test_import_does_not_load_torch():
    import subprocess
    import sys

    code = (
        "import sys, crysbench, crysbench.metrics, crysbench.evaluator, crysbench.refine, "
        "crysbench.refine.builtin, crysbench.refine.shelxe; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
