"""Physics oracles: direct structure-factor sums, Patterson vs autocorrelation."""

import gemmi
import numpy as np
import pytest

from crysbench.maps import grid_shape, inv_d2, miller_indices, synthesize


def direct_sf(ex, hkl):
    """Independent oracle: F(h) = Σ f_j(s) exp(-B s²/4) exp(2πi h·x_j) by direct summation."""
    frac = np.array([ex.cell.fractionalize(gemmi.Position(*p)).tolist() for p in ex.positions])
    s2 = inv_d2(ex.cell, hkl)  # 1/d²
    stol2 = s2 / 4.0
    F = np.zeros(len(hkl), dtype=np.complex128)
    for el in np.unique(ex.elements):
        c = gemmi.Element(str(el)).it92.get_coefs()
        a, b, c0 = c[0:4], c[4:8], c[8]  # IT92: a1..a4, b1..b4, c
        f = c0 + sum(ai * np.exp(-bi * stol2) for ai, bi in zip(a, b))
        f = f * np.exp(-20.0 * stol2)
        xj = frac[ex.elements == el]
        phase = 2 * np.pi * (hkl.astype(float) @ xj.T)
        F += f * np.exp(1j * phase).sum(axis=1)
    return F


def _check_sf(ex):
    rng = np.random.default_rng(0)
    idx = rng.choice(len(ex.hkl), size=min(1500, len(ex.hkl)), replace=False)
    ref = direct_sf(ex, ex.hkl[idx])
    got = ex.F[idx].astype(np.complex128)
    amp_cc = np.corrcoef(np.abs(ref), np.abs(got))[0, 1]
    dphi = np.degrees(np.abs(np.angle(got * np.conj(ref))))
    wdphi = (dphi * np.abs(ref)).sum() / np.abs(ref).sum()
    assert amp_cc > 0.999, amp_cc
    assert wdphi < 2.0, wdphi
    # absolute scale: electrons, within 1 %
    assert abs(np.abs(got).sum() / np.abs(ref).sum() - 1) < 0.01


def test_sf_vs_direct_sum_const_res(const_res_examples):
    for ex in const_res_examples[:3]:
        _check_sf(ex)


def test_sf_vs_direct_sum_var_res(var_res_examples):
    for ex in var_res_examples[:3]:
        assert 1.6 <= ex.dmin <= 2.25
        _check_sf(ex)


def test_density_matches_direct_synthesis(var_res_examples):
    """The FFT synthesis equals (1/V) Σ F e^{-2πi h·x} summed by hand at a few points."""
    ex = var_res_examples[0]
    rho = ex.density
    nu, nv, nw = ex.grid_shape
    rng = np.random.default_rng(1)
    for _ in range(5):
        u, v, w = (int(rng.integers(n)) for n in (nu, nv, nw))
        x = np.array([u / nu, v / nv, w / nw])
        ph = -2 * np.pi * (ex.hkl.astype(float) @ x)
        val = 2 * np.real(ex.F.astype(np.complex128) * np.exp(1j * ph)).sum() / ex.cell.volume
        assert rho[u, v, w] == pytest.approx(val, abs=float(1e-4 * np.abs(rho).max()))


def test_density_zero_mean_and_units(const_res_examples):
    for ex in const_res_examples:
        rho = ex.density
        assert rho.dtype == np.float32 and rho.shape == ex.grid_shape
        assert abs(float(rho.mean())) < 1e-5
        # peak density of light atoms with B=20 at 1.5 Å: of order 1-5 e/Å³
        assert 0.5 < float(rho.max()) < 10


def test_patterson_is_autocorrelation_of_density(var_res_examples):
    ex = var_res_examples[1]
    rho = ex.density.astype(np.float64)
    # P(u) = V/N Σ_x ρ(x) ρ(x+u): circular autocorrelation by FFT (independent of |F|²)
    R = np.fft.fftn(rho)
    auto = np.real(np.fft.ifftn(R * np.conj(R))) * ex.cell.volume / rho.size
    pat = ex.patterson.astype(np.float64)
    assert np.corrcoef(auto.ravel(), pat.ravel())[0, 1] > 0.9999
    assert np.allclose(auto, pat, atol=1e-3 * pat.max())
    assert np.unravel_index(pat.argmax(), pat.shape) == (0, 0, 0)


def test_patterson_equals_fourier_of_F2(const_res_examples):
    ex = const_res_examples[0]
    coef = np.abs(ex.F.astype(np.complex128)) ** 2
    direct = synthesize(ex.hkl, coef, ex.grid_shape, ex.cell.volume)
    assert np.allclose(direct, ex.patterson, rtol=1e-4, atol=1e-3)
    # centrosymmetric: P(u) = P(-u)
    p = ex.patterson
    flipped = np.roll(p[::-1, ::-1, ::-1], 1, axis=(0, 1, 2))
    assert np.allclose(p, flipped, atol=1e-3 * p.max())


def test_miller_indices_are_half_sphere_without_f000():
    cell = gemmi.UnitCell(23.1, 17.2, 30.4, 100, 110, 90)
    hkl = miller_indices(cell, 1.7)
    s = set(map(tuple, hkl.tolist()))
    assert (0, 0, 0) not in s
    assert not any((-h, -k, -l) in s for h, k, l in s)
    # compare with gemmi's own count of reflections in P1 to 1.7 Å (half sphere)
    full = gemmi.count_reflections(cell, gemmi.SpaceGroup("P 1"), 1.7)
    assert abs(len(hkl) - full) <= 2  # gemmi counts the ASU; boundary rounding only
    assert (1 / np.sqrt(inv_d2(cell, hkl)) >= 1.7 - 1e-9).all()


def test_grid_spacing_ccp4_sense():
    cell = gemmi.UnitCell(30.0, 24.0, 20.0, 90, 90, 90)
    assert grid_shape(cell, 1.5, 3.0) == (60, 48, 40)  # 0.5 Å spacing
    shape = grid_shape(cell, 2.0, 2.5)
    for n, length in zip(shape, (30.0, 24.0, 20.0)):
        assert length / n <= 2.0 / 2.5 + 1e-9
