"""Refinement engines: builtin density modification and the SHELXE driver (fake binary)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import crysbench
from crysbench.refine import get_engine
from crysbench.refine.builtin import BuiltinEngine, composition_stats, density_modification
from crysbench.refine.shelxe import ShelxeEngine, parse_listing
from crysbench.structures import bundled_entries

FAKE = Path(__file__).parent / "data" / "fake_shelxe"


@pytest.fixture(scope="module")
def examples():
    out = []
    for pid in ("1A8O", "4E43", "3HSY"):
        exs = list(crysbench.generate_examples(bundled_entries()[pid], "var-res@1"))
        out.append(min(exs, key=lambda e: len(e.hkl)))
    return out


def vonmises_start(F, kappa, seed):
    rng = np.random.default_rng(seed)
    return np.abs(F) * np.exp(1j * (np.angle(F) + rng.vonmises(0.0, kappa, len(F))))


def test_composition_stats():
    f000, s = composition_stats(["C"] * 10 + ["O"] * 2, 5000.0)
    assert f000 == 10 * 6 + 2 * 8
    mass = 10 * 12.011 + 2 * 15.999
    assert s == pytest.approx(1 - 1.23 * mass / 5000.0, abs=1e-3)


def test_truth_is_a_fixed_point(examples):
    eng = BuiltinEngine()
    for ex in examples:
        out = eng.refine(ex, ex.F)
        assert out["refined"] is True
        assert out["final_phase_error_weighted"] < 10
        assert out["final_inverted"] is False


def test_refinement_lowers_phase_error(examples):
    eng = BuiltinEngine()
    # kappa 8.5 -> ~20° mean error, kappa 2.1 -> ~40°
    for kappa, start_max in ((8.5, 25), (2.1, 45)):
        starts, finals, solved = [], [], []
        for i, ex in enumerate(examples):
            Fp = vonmises_start(ex.F, kappa, i)
            out = eng.refine(ex, Fp)
            starts.append(out["start_phase_error_weighted"])
            finals.append(out["final_phase_error_weighted"])
            solved.append(out["refined"])
        assert max(starts) < start_max
        assert np.median(finals) < np.median(starts) - 10, (starts, finals)
        if kappa > 5:
            assert all(solved)


def test_random_start_not_solved(examples):
    ex = examples[0]
    rng = np.random.default_rng(7)
    Fr = np.abs(ex.F) * np.exp(2j * np.pi * rng.random(len(ex.F)))
    out = BuiltinEngine().refine(ex, Fr)
    assert out["refined"] is False
    assert out["final_phase_error_weighted"] > 60


def test_deterministic(examples):
    ex = examples[1]
    Fp = vonmises_start(ex.F, 2.1, 3)
    f000, s = composition_stats(ex.elements, ex.cell.volume)
    a, _ = density_modification(ex.hkl, np.abs(ex.F), np.angle(Fp), ex.cell, ex.grid_shape, f000, s)
    b, _ = density_modification(ex.hkl, np.abs(ex.F), np.angle(Fp), ex.cell, ex.grid_shape, f000, s)
    assert np.array_equal(a, b)


def test_refinement_is_origin_invariant(examples):
    ex = examples[0]
    Fp = vonmises_start(ex.F, 8.5, 1)
    t = np.array([0.25, 0.5, 0.1])
    shifted = Fp * np.exp(2j * np.pi * (ex.hkl @ t))
    a = BuiltinEngine().refine(ex, Fp)
    b = BuiltinEngine().refine(ex, shifted)
    assert a["refined"] and b["refined"]
    assert b["final_phase_error_weighted"] == pytest.approx(a["final_phase_error_weighted"], abs=2)


def test_engine_registry():
    assert get_engine("none").refine(None, None) == {"refined": None}
    assert get_engine("builtin", n_cycles=3).settings["n_cycles"] == 3
    assert get_engine("shelxe").settings["args"] == ["-a4", "-m10", "-s0.8", "-f"]
    with pytest.raises(ValueError, match="unknown refinement engine"):
        get_engine("phenix")


# ----------------------------------------------------------------------------- SHELXE
def test_parse_listing_recorded():
    info = parse_listing((FAKE / "solved.lst").read_text())
    assert info["cc"] == 34.12 and info["best_cycle"] == 3 and info["version"] == "2019/1"
    assert parse_listing((FAKE / "unsolved.lst").read_text())["cc"] == 12.03
    u = parse_listing((FAKE / "untraceable.lst").read_text())
    assert u["cc"] is None and u["untraceable"]
    assert parse_listing((FAKE / "expired.lst").read_text())["expired"]


@pytest.fixture
def fake_path(monkeypatch):
    monkeypatch.setenv("PATH", f"{FAKE}{os.pathsep}{os.environ.get('PATH', '')}")
    return monkeypatch


@pytest.mark.parametrize(
    "case, refined, cc",
    [
        ("solved", True, 34.12),
        ("unsolved", False, 12.03),
        ("untraceable", False, None),
        ("expired", None, None),
        ("crash", None, None),
    ],
)
def test_shelxe_engine_with_fake_binary(examples, fake_path, case, refined, cc):
    fake_path.setenv("FAKE_SHELXE_CASE", case)
    ex = examples[0]
    out = ShelxeEngine().refine(ex, vonmises_start(ex.F, 2.0, 0))
    assert "fake shelxe:" not in str(out.get("engine_error")), out  # inputs parsed strictly
    assert out["refined"] is refined, out
    assert out.get("shelxe_cc") == cc
    if refined is None:
        assert out["engine_error"]
    if case == "solved":
        assert out["refined_cc20"] is True and out["shelxe_version"] == "2019/1"


def test_shelxe_rejects_bad_settings(examples, fake_path):
    # the fake checks the paper's flags; wrong ones surface as an engine error, not a verdict
    fake_path.setenv("FAKE_SHELXE_CASE", "solved")
    out = ShelxeEngine(cycles=2).refine(examples[0], examples[0].F)
    assert out["refined"] is None and "exit 3" in out["engine_error"]


def test_shelxe_missing_binary(examples, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    out = ShelxeEngine().refine(examples[0], examples[0].F)
    assert out["refined"] is None and "not found" in out["engine_error"]
