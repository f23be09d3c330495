"""The reciprocal-space kernel's conventions, against direct sums (the one place they are tested).

Oracles are written out here with explicit loops over both Friedel mates and over grid
points, independent of the FFT and of the kernel's index arithmetic.
"""

from __future__ import annotations

import itertools

import gemmi
import numpy as np
import pytest

from crysbench.maps import miller_indices
from crysbench.reciprocal import HalfSphereGrid, good_fft_size, search_shape

CELL = gemmi.UnitCell(7.3, 8.1, 9.4, 97.0, 104.0, 111.0)  # small, oblique P1
SHAPE = (10, 12, 14)


def grid_points(shape):
    """Fractional coordinates of every grid point, shape=(N, 3), in C order of (u, v, w)."""
    idx = np.stack(np.meshgrid(*(np.arange(n) for n in shape), indexing="ij"), -1)
    return idx.reshape(-1, 3) / np.array(shape, dtype=float)


def direct_map(hkl, F, x, volume, f000=0.0):
    """ρ(x) = (1/V)[F000 + Σ_h F(h) e^{-2πi h·x} + conj F(h) e^{+2πi h·x}], summed as written."""
    rho = np.full(len(x), complex(f000))
    for h, f in zip(hkl.astype(float), F):
        ph = 2 * np.pi * (x @ h)
        rho += f * np.exp(-1j * ph) + np.conj(f) * np.exp(1j * ph)
    assert np.abs(rho.imag).max() < 1e-9 * max(1.0, np.abs(rho.real).max())
    return rho.real / volume


def direct_sf_of_map(rho, hkl, volume):
    """F(h) = (V/N) Σ_x ρ(x) e^{+2πi h·x}, a direct sum over the grid points."""
    x = grid_points(rho.shape)
    ph = 2 * np.pi * (x @ hkl.astype(float).T)  # (N, m)
    return (rho.reshape(-1)[:, None] * np.exp(1j * ph)).sum(axis=0) * volume / rho.size


@pytest.fixture(scope="module")
def atoms():
    """Random atoms in the cell and their structure factors Σ f_j exp(2πi h·x_j)."""
    rng = np.random.default_rng(11)
    x = rng.random((7, 3))
    f = rng.uniform(1.0, 8.0, 7)  # point scatterers of constant form factor
    hkl = miller_indices(CELL, 2.2)
    F = (f[None, :] * np.exp(2j * np.pi * (hkl.astype(float) @ x.T))).sum(axis=1)
    return hkl, F, float(f.sum())


def test_half_sphere_covers_the_l0_plane_with_negative_indices(atoms):
    hkl = atoms[0]
    l0 = hkl[hkl[:, 2] == 0]
    assert ((l0[:, 0] < 0) & (l0[:, 1] > 0)).any()  # negative h on l = 0
    assert ((l0[:, 0] > 0) & (l0[:, 1] == 0)).any() and not (l0[:, 1] < 0).any()
    assert (hkl[:, 2] > 0).any() and (np.abs(hkl) * 2 < np.array(SHAPE)).all()


def test_to_map_equals_direct_synthesis(atoms):
    hkl, F, f000 = atoms
    g = HalfSphereGrid(hkl, SHAPE)
    got = g.to_map(F, CELL.volume, f000=f000, dtype=np.complex128)
    want = direct_map(hkl, F, grid_points(SHAPE), CELL.volume, f000).reshape(SHAPE)
    assert got.dtype == np.float64 and got.shape == SHAPE
    assert np.allclose(got, want, rtol=0, atol=1e-12 * np.abs(want).max())
    # float32 maps (what the store's maps are) agree to single precision
    got32 = g.to_map(F, CELL.volume, f000=f000)
    assert got32.dtype == np.float32
    assert np.allclose(got32, want, rtol=0, atol=1e-5 * np.abs(want).max())


def test_from_map_equals_direct_sum_over_grid(atoms):
    hkl = atoms[0]
    rho = np.random.default_rng(3).normal(size=SHAPE)  # any real map, not band-limited
    got = HalfSphereGrid(hkl, SHAPE).from_map(rho, CELL.volume)
    assert np.allclose(got, direct_sf_of_map(rho, hkl, CELL.volume), rtol=1e-12, atol=1e-12)


def test_from_map_of_band_limited_atom_map_gives_atom_sf(atoms):
    hkl, F, f000 = atoms
    rho = direct_map(hkl, F, grid_points(SHAPE), CELL.volume, f000).reshape(SHAPE)
    got = HalfSphereGrid(hkl, SHAPE).from_map(rho, CELL.volume)
    assert np.allclose(got, F, rtol=0, atol=1e-10 * np.abs(F).max())


@pytest.mark.parametrize("h", [(-2, 1, 0), (3, -1, 0), (0, 2, 0), (1, 0, 0), (-1, -2, 3)])
def test_single_reflection_is_a_real_cosine_wave(h):
    """One reflection F = A e^{iφ} gives ρ = (2A/V) cos(2π h·x − φ), on and off l = 0."""
    F = 1.5 * np.exp(0.7j)
    rho = HalfSphereGrid(np.array([h]), SHAPE).to_map([F], 50.0, dtype=np.complex128)
    x = grid_points(SHAPE)
    want = 2 * 1.5 / 50.0 * np.cos(2 * np.pi * (x @ np.array(h, float)) - 0.7)
    assert np.allclose(rho.reshape(-1), want, atol=1e-13)


def test_place_puts_conj_at_h_and_f_at_minus_h_on_l0_only():
    hkl = np.array([[-2, 1, 0], [1, -1, 2]])
    F = np.array([1 + 2j, 3 - 1j])
    G = HalfSphereGrid(hkl, (6, 6, 6)).place(F, dtype=np.complex128)[0]
    assert G[-2 % 6, 1, 0] == np.conj(F[0]) and G[2, -1 % 6, 0] == F[0]
    assert G[1, -1 % 6, 2] == np.conj(F[1])
    assert np.count_nonzero(G) == 3  # no mate for l > 0: irfft supplies it


def test_scale_map_integral_is_f000_and_peak_is_2F_over_V(atoms):
    hkl, F, f000 = atoms
    rho = HalfSphereGrid(hkl, SHAPE).to_map(F, CELL.volume, f000=f000, dtype=np.complex128)
    # ∫ρ dV = (V/N) Σ ρ = F000 (the electrons in the cell); without F000 the mean is zero
    assert rho.sum() * CELL.volume / rho.size == pytest.approx(f000, rel=1e-12)
    zero = HalfSphereGrid(hkl, SHAPE).to_map(F, CELL.volume, dtype=np.complex128)
    assert abs(zero.mean()) < 1e-12 * np.abs(zero).max()
    # Parseval on the grid: (V/N) Σ ρ² = (1/V)(F000² + 2 Σ_half |F|²)
    lhs = (rho**2).sum() * CELL.volume / rho.size
    assert lhs == pytest.approx((f000**2 + 2 * (np.abs(F) ** 2).sum()) / CELL.volume, rel=1e-10)


def test_round_trip(atoms):
    hkl, F, _ = atoms
    g = HalfSphereGrid(hkl, SHAPE)
    back = g.from_map(g.to_map(F, CELL.volume, dtype=np.complex128), CELL.volume)
    assert np.allclose(back, F, rtol=0, atol=1e-12 * np.abs(F).max())
    back32 = g.from_map(g.to_map(F, CELL.volume), CELL.volume)
    assert np.allclose(back32, F, rtol=0, atol=1e-5 * np.abs(F).max())


def test_base_keeps_the_other_fourier_terms(atoms):
    """A map rebuilt from its own F, F000 and the rest of its rfft is the map itself."""
    hkl = atoms[0]
    rho = np.random.default_rng(5).normal(size=SHAPE)
    g = HalfSphereGrid(hkl, SHAPE)
    F = g.from_map(rho, CELL.volume)
    f000 = rho.sum() * CELL.volume / rho.size
    R = np.fft.rfftn(rho)
    again = g.to_map(F, CELL.volume, f000=f000, dtype=np.complex128, base=R)
    assert np.allclose(again, rho, atol=1e-12)
    assert not np.allclose(g.to_map(F, CELL.volume, f000, np.complex128), rho, atol=1e-3)


def test_batch_equals_loop(atoms):
    hkl, F, _ = atoms
    g = HalfSphereGrid(hkl, SHAPE)
    Fs = np.stack([F, 1j * F, np.conj(F)]).reshape(3, 1, -1)
    vols = np.array([10.0, 20.0, 30.0]).reshape(3, 1)
    maps = g.to_map(Fs, vols)
    assert maps.shape == (3, 1, *SHAPE)
    for i in range(3):
        assert np.array_equal(maps[i, 0], g.to_map(Fs[i, 0], float(vols[i, 0])))
    sf = g.from_map(maps, 5.0)
    for i in range(3):
        assert np.array_equal(sf[i, 0], g.from_map(maps[i, 0], 5.0))


def test_ragged_batch_equals_loop_full_and_pruned(atoms):
    hkl, F, _ = atoms
    rng = np.random.default_rng(2)
    parts = [hkl, hkl[hkl[:, 2] == 0], hkl[:5]]  # different reflections per example
    coefs = [rng.normal(size=len(p)) + 1j * rng.normal(size=len(p)) for p in parts]
    vols = np.array([100.0, 200.0, 300.0])
    rows = np.repeat(np.arange(3), [len(p) for p in parts])
    g = HalfSphereGrid(np.concatenate(parts), SHAPE, rows=rows)
    full = g.to_map(np.concatenate(coefs), vols)
    pruned = g.to_map(np.concatenate(coefs), vols, pruned=True)
    assert full.shape == pruned.shape == (3, *SHAPE)
    for i, (p, c) in enumerate(zip(parts, coefs)):
        one = HalfSphereGrid(p, SHAPE).to_map(c, vols[i])
        assert np.array_equal(full[i], one)
        assert np.allclose(pruned[i], one, rtol=0, atol=1e-6 * np.abs(one).max())
    with pytest.raises(ValueError):
        g.from_map(full, 1.0)


def test_cached_shares_one_object_per_hkl_and_shape(atoms):
    hkl = atoms[0]
    a = HalfSphereGrid.cached(hkl, SHAPE)
    assert HalfSphereGrid.cached(hkl.copy(), list(SHAPE)) is a
    assert HalfSphereGrid.cached(hkl, (12, 12, 14)) is not a
    assert HalfSphereGrid.cached(hkl[:-1], SHAPE) is not a


def test_from_map_rejects_another_grid(atoms):
    with pytest.raises(ValueError, match="grid"):
        HalfSphereGrid(atoms[0], SHAPE).from_map(np.zeros((8, 8, 8)), 1.0)


def _smooth(n):
    for p in (2, 3, 5):
        while n % p == 0:
            n //= p
    return n == 1


def test_fft_size_policies():
    for n in range(1, 200):
        m = good_fft_size(n)
        assert m >= n and m % 2 == 0 and _smooth(m)
        assert not any(k % 2 == 0 and _smooth(k) for k in range(max(n, 2), m))
    # the origin search grid: oversample × the Nyquist grid of the reflections, even
    for hm in itertools.product((0, 3, 7), repeat=1):
        shape = search_shape(np.array([[hm[0], 2, 1]]), oversample=2)
        assert shape[0] >= 2 * (2 * hm[0] + 1) and all(n % 2 == 0 for n in shape)


def test_scale_first_equals_scale_after_to_rounding(atoms):
    hkl, F, f000 = atoms
    g = HalfSphereGrid(hkl, SHAPE)
    after = g.to_map(F, CELL.volume, f000, np.complex128)
    first = g.to_map(F, CELL.volume, f000, np.complex128, scale_first=True)
    assert np.allclose(first, after, rtol=0, atol=1e-14 * np.abs(after).max())
    # base stays in rfft units: a map rebuilt from its own terms, scaled first
    rho = np.random.default_rng(9).normal(size=SHAPE)
    R = np.fft.rfftn(rho)
    f0 = rho.sum() * CELL.volume / rho.size
    again = g.to_map(g.from_map(rho, CELL.volume), CELL.volume, f0, np.complex128, base=R,
                     scale_first=True)  # fmt: skip
    assert np.allclose(again, rho, atol=1e-12)


def test_flat_indices_are_where_place_puts_each_reflection(atoms):
    """+h gets conj C, -h of l = 0 gets C; ragged positions carry the example's offset."""
    hkl = atoms[0]
    rng = np.random.default_rng(4)
    parts = [hkl, hkl[hkl[:, 2] == 0], hkl[:5]]
    rows = np.repeat(np.arange(3), [len(p) for p in parts])
    cat = np.concatenate(parts)
    C = rng.normal(size=len(cat)) + 1j * rng.normal(size=len(cat))
    for g in (HalfSphereGrid(hkl, SHAPE), HalfSphereGrid(cat, SHAPE, rows=rows)):
        c = C[: len(g.hkl)]
        plus, zero, minus = g.flat_indices()
        assert plus.dtype == zero.dtype == minus.dtype == np.int64
        assert np.array_equal(zero, np.flatnonzero(g.hkl[:, 2] == 0))
        want = np.zeros(g.place(c, np.complex128).size, complex)
        want[plus] = np.conj(c)
        want[minus] = c[zero]
        assert np.array_equal(g.place(c, np.complex128).reshape(-1), want)
    # the formula, written out: ((row·nu + h mod nu)·nv + k mod nv)·(nw//2+1) + l
    nu, nv, nw = SHAPE
    h, k, l = cat.T
    assert np.array_equal(plus, ((rows * nu + h % nu) * nv + k % nv) * (nw // 2 + 1) + l)
    assert np.array_equal(minus, ((rows * nu + (-h) % nu) * nv + (-k) % nv)[zero] * (nw // 2 + 1))


def test_irfft_and_raw_gather_are_the_unscaled_transforms(atoms):
    hkl, F, _ = atoms
    g = HalfSphereGrid(hkl, SHAPE)
    G = g.place(F, np.complex128)[0]
    raw = g.irfft(G)
    assert raw.shape == SHAPE
    assert np.array_equal(raw * (g.n / CELL.volume), g.to_map(F, CELL.volume, dtype=np.complex128))
    R = np.fft.rfftn(raw)
    assert np.allclose(g.gather(R, None), F, rtol=0, atol=1e-12 * np.abs(F).max())  # rfft∘irfft
    assert np.array_equal(g.gather(R, None) * (CELL.volume / g.n), g.gather(R, CELL.volume))
