"""Pinned random streams of recipes @2: exact values for fixed ids."""

import hashlib

import pytest

import crysbench
from crysbench.cell import draw_angles
from crysbench.streams import PinnedStream
from crysbench.variants import example_rng, get_variant

SEED = 20240601


def test_words_are_sha256_of_seed_id_stream_counter():
    s = PinnedStream(SEED, "1A8O_1.pd_1", "cell")
    for counter in range(3):
        digest = hashlib.sha256(f"{SEED}:1A8O_1.pd_1:cell:{counter}".encode()).digest()
        assert s.raw64() == int.from_bytes(digest[:8], "little")


def test_exact_words_and_doubles():
    s = PinnedStream(SEED, "1A8O_1.pd_1", "cell")
    assert [hex(s.raw64()) for _ in range(3)] == [
        "0xc326a79bb61b6136",
        "0xb4a6b906aff95b78",
        "0x13eafac9c0192575",
    ]
    s = PinnedStream(SEED, "1A8O_1.pd_1", "cell")
    assert s.random() == 0.7623085742144275
    assert s.random() == 0.7056689874006897


@pytest.mark.parametrize(
    "eid,resolution,angles",
    [
        ("1A8O_1.pd_1", (2.0617, 2.6801), (110.0, 110.0, 90.0)),
        ("3HSY_1.pd_11", (1.9036, 2.3325), (100.0, 90.0, 120.0)),
        ("3JQH_1.pd_1", (2.1774, 2.6916), (110.0, 100.0, 110.0)),
        ("4ZHL_1.pd_211", (2.2208, 2.5173), (110.0, 110.0, 90.0)),
    ],
)
def test_var_res_v2_draws_are_pinned(eid, resolution, angles):
    v = get_variant("var-res@2")
    assert v.draw_resolution(eid) == resolution
    assert draw_angles(example_rng(v, eid, "cell"), v.angle_choices, v.angle_probs) == angles


def test_v2_example_cell_is_pinned(entries):
    ex = next(crysbench.generate_examples(entries["3JQH"], "var-res@2"))
    assert ex.id == "3JQH_1.pd_1"
    assert ex.cell.parameters == (29.383, 20.454, 16.079, 110.0, 100.0, 110.0)
    assert (ex.dmin, ex.rate, ex.grid_shape) == (2.1774, 2.6916, (40, 30, 20))


def test_v1_still_uses_numpy_generator():
    import numpy as np

    assert isinstance(example_rng(get_variant("var-res@1"), "x", "cell"), np.random.Generator)
    assert isinstance(example_rng(get_variant("var-res@2"), "x", "cell"), PinnedStream)


def test_choice_frequencies_follow_the_weights():
    s = PinnedStream(1, "freq", "test")
    probs = (1 / 3, 1 / 3, 2 / 9, 1 / 9)
    counts = [0, 0, 0, 0]
    for _ in range(9000):
        counts[s.choice_index(probs)] += 1
    for c, p in zip(counts, probs):
        assert abs(c / 9000 - p) < 0.02


def test_uniform_bounds_and_mean():
    s = PinnedStream(1, "u", "test")
    xs = [s.uniform(1.6, 2.25) for _ in range(5000)]
    assert min(xs) >= 1.6 and max(xs) < 2.25
    assert abs(sum(xs) / len(xs) - 1.925) < 0.01
