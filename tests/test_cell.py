"""Cell construction: brute-force contacts, centring, angle frequencies, hand, determinism."""

import itertools

import gemmi
import numpy as np

import crysbench
from crysbench.cell import draw_angles, orient_by_extent, valid_angles
from crysbench.variants import get_variant


def brute_force_contact(ex, reach=3):
    """Shortest intermolecular distance over a wide shell of lattice translations."""
    orth = np.array(ex.cell.orth.mat.tolist())
    xyz = ex.positions
    best = np.inf
    for uvw in itertools.product(range(-reach, reach + 1), repeat=3):
        if uvw == (0, 0, 0):
            continue
        t = orth @ np.array(uvw, dtype=float)
        d = np.linalg.norm(xyz[:, None, :] - (xyz[None, :, :] + t), axis=2)
        best = min(best, d.min())
    return best


def test_contacts_exceed_3_45(const_res_examples, var_res_examples):
    for ex in const_res_examples + var_res_examples[:3]:
        assert brute_force_contact(ex) > 3.45


def test_centre_of_mass_at_cell_centre(const_res_examples):
    for ex in const_res_examples:
        w = np.array([gemmi.Element(e).weight for e in ex.elements])
        com = (w[:, None] * ex.positions).sum(0) / w.sum()
        frac = ex.cell.fractionalize(gemmi.Position(*com))
        assert np.allclose(frac.tolist(), [0.5, 0.5, 0.5], atol=1e-6)


def test_axes_ordered_longest_a_shortest_c(const_res_examples, var_res_examples):
    for ex in const_res_examples + var_res_examples:
        assert ex.cell.a >= ex.cell.b >= ex.cell.c


def test_angle_frequencies():
    rng = np.random.default_rng(0)
    v = get_variant("const-res@1")
    draws = np.array([draw_angles(rng, v.angle_choices, v.angle_probs) for _ in range(6000)])
    draws = draws.ravel()
    assert all(valid_angles(*t) for t in draws.reshape(-1, 3)[:200])
    freq = {a: np.mean(draws == a) for a in (90, 100, 110, 120)}
    # impossible triples (e.g. 120/120/120) are redrawn, which shifts the marginals slightly
    assert abs(freq[90] - 1 / 3) < 0.03 and abs(freq[100] - 1 / 3) < 0.03
    assert abs(freq[110] - 2 / 9) < 0.03 and abs(freq[120] - 1 / 9) < 0.03
    assert not valid_angles(120, 120, 120)


def test_orientation_keeps_hand():
    rng = np.random.default_rng(1)
    xyz = rng.normal(size=(10, 3)) * [1, 5, 3]
    out = orient_by_extent(xyz)
    ext = out.max(0) - out.min(0)
    assert ext[0] >= ext[1] >= ext[2]

    # a proper rotation keeps signed volumes (chirality)
    def vol(p):
        return np.linalg.det(np.stack([p[1] - p[0], p[2] - p[0], p[3] - p[0]]))

    assert np.sign(vol(out)) == np.sign(vol(xyz))
    assert np.allclose(np.linalg.norm(out - out[0], axis=1), np.linalg.norm(xyz - xyz[0], axis=1))


def test_identical_bytes_on_second_run(entries):
    a = list(crysbench.generate_examples(entries["4E43"], "var-res"))
    b = list(crysbench.generate_examples(entries["4E43"], "var-res"))
    assert [x.id for x in a] == [x.id for x in b]
    for x, y in zip(a, b):
        assert x.F.tobytes() == y.F.tobytes()
        assert x.density.tobytes() == y.density.tobytes()
        assert x.cell.parameters == y.cell.parameters and x.dmin == y.dmin


def test_var_res_draws_in_range(var_res_examples):
    for ex in var_res_examples:
        assert 1.6 <= ex.dmin <= 2.25 and 2.305 <= ex.rate <= 2.745
        for n, length in zip(ex.grid_shape, (ex.cell.a, ex.cell.b, ex.cell.c)):
            assert length / n <= ex.dmin / ex.rate + 1e-9


def test_lattice_translations_are_the_per_vector_products():
    """The vectorised translations have the bits of one ``orth @ uvw`` per vector."""
    from crysbench.cell import lattice_translations

    rng = np.random.default_rng(7)
    for _ in range(2000):
        a, b, c = rng.uniform(5.0, 150.0, 3).round(4)
        al, be, ga = rng.choice([60.0, 75.0, 90.0, 105.0, 120.0], 3)
        if not valid_angles(al, be, ga):
            continue
        cell = gemmi.UnitCell(a, b, c, al, be, ga)
        orth = np.array(cell.orth.mat.tolist())
        ref = [orth @ np.array(t, dtype=float) for t in itertools.product((-1, 0, 1), repeat=3)]
        ref = np.array(
            [r for t, r in zip(itertools.product((-1, 0, 1), repeat=3), ref) if t > (0, 0, 0)]
        )
        assert np.array_equal(lattice_translations(cell), ref)


def test_build_cell_matches_a_brute_force_scan():
    """The box-filtered contact test gives the cells of an unfiltered scan (every copy,
    every atom) on random compact fragments."""
    from crysbench.cell import CellError, build_cell, min_lattice_contact

    def reference(xyz, angles, min_contact, step, max_growth):
        ext = xyz.max(axis=0) - xyz.min(axis=0)
        n = int(round(max_growth / step))

        def cell_at(i):
            return gemmi.UnitCell(*(round(float(x + i * step), 4) for x in ext), *angles)

        def clear(i):
            return min_lattice_contact(xyz, cell_at(i)) > min_contact

        prev = -1
        for i in list(range(0, n + 1, 4)) + [n]:
            if clear(i):
                return next((cell_at(j) for j in range(prev + 1, i) if clear(j)), cell_at(i))
            prev = i
        raise CellError("clash")

    rng = np.random.default_rng(3)
    for _ in range(60):
        n = int(rng.integers(5, 120))
        xyz = orient_by_extent(np.cumsum(rng.normal(0, 1.5, (n, 3)), axis=0))
        angles = tuple(float(x) for x in rng.choice([70.0, 90.0, 110.0], 3))
        if not valid_angles(*angles):
            continue
        got = build_cell(xyz, angles, 3.45, 0.25, 20.0)
        assert got.parameters == reference(xyz, angles, 3.45, 0.25, 20.0).parameters
