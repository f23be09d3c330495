"""crysbench.Evaluator: formats, validation, scoring into rows, aggregate, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import crysbench
from crysbench import Evaluator
from crysbench.fingerprints import fingerprint_mismatch
from crysbench.results import library_versions

REPO = Path(__file__).resolve().parents[1]
BOARD_RESULTS = sorted((REPO / "leaderboards").glob("*/*/*/results*.json"))


@pytest.fixture(scope="module")
def store(store_path):
    """The suite's shared dipeptide store (read-only)."""
    return crysbench.open_store(store_path)


@pytest.fixture(scope="module")
def truth(store):
    return {k: store.get(k).density for k in store.ids("test")}


@pytest.fixture(scope="module")
def noisy(store, truth):
    rng = np.random.default_rng(3)
    return {k: v + rng.normal(0, 0.5 * float(v.std()), v.shape).astype(np.float32)
            for k, v in truth.items()}  # fmt: skip


def _problems(ev, preds, **kw):
    with pytest.raises(crysbench.EvaluationError) as err:
        ev.validate(preds, **kw)
    return str(err.value), err.value.problems


def test_made_from_a_store_or_a_variant_name(store):
    by_store = Evaluator(store)
    by_name = Evaluator(store.variant, store=store.path)
    assert by_store.variant == by_name.variant == crysbench.get_variant(store.variant)
    np.testing.assert_array_equal(by_store.shell_edges, by_name.shell_edges)
    assert by_name.store.fingerprint == store.fingerprint
    with pytest.raises(ValueError, match=f"built with {store.variant}, not const-res@1"):
        Evaluator("const-res@1", store=store)
    with pytest.raises(ValueError, match="has no store to score against"):
        Evaluator("const-res@1").validate({})


def test_unknown_variant_is_an_error_never_a_fallback(store):
    with pytest.raises(KeyError, match="unknown variant 'nope'"):
        Evaluator("nope@1")

    class Renamed:  # a store-like whose recipe this crysbench does not know
        variant = "dipeptide@99"
        fingerprint = store.fingerprint

        def ids(self, split=None):
            return store.ids(split)

        def get(self, key):
            return store.get(key)

    with pytest.raises(KeyError, match="unknown version dipeptide@99"):
        Evaluator(Renamed())
    with pytest.raises(KeyError, match="unknown version"):
        crysbench.evaluate({}, Renamed(), engine="none", progress=False)


def test_expected_formats_name_the_split_and_fingerprint(store):
    ev = Evaluator(store)
    text = ev.expected_input_format
    assert f"{len(store.ids('test'))} ids" in text and store.fingerprint in text
    assert "grid_shape" in text and "NaN" in text and store.variant in text
    out = Evaluator("const-res@2").expected_output_format
    assert "12 shells" in out and "1.5 Å" in out and "fraction_below_60" in out


def test_wrong_shape_nan_and_unknown_id_are_listed_together(store, truth):
    ev = Evaluator(store)
    ids = store.ids("test")
    preds = dict(truth)
    preds[ids[0]] = truth[ids[0]][:, :, :-1]
    nan = truth[ids[1]].copy()
    nan[1, 2, 3] = np.nan
    preds[ids[1]] = nan
    preds["9ZZZ_1.pd_1"] = truth[ids[2]]
    msg, problems = _problems(ev, preds)
    assert set(problems) == {"shape", "nonfinite", "unknown"}
    assert f"{ids[0]} {truth[ids[0]].shape[:2] + (truth[ids[0]].shape[2] - 1,)}" in msg
    assert problems["nonfinite"] == [ids[1]] and problems["unknown"] == ["9ZZZ_1.pd_1"]
    assert "1 unknown ids (not in split 'test')" in msg
    with pytest.raises(crysbench.EvaluationError, match="wrong shapes"):
        ev.evaluate(preds)  # nothing is scored


def test_nan_in_a_file_is_found_while_scoring(store, truth, tmp_path):
    ids = store.ids("test")
    for k, v in truth.items():
        np.save(tmp_path / f"{k}.npy", v)
    bad = truth[ids[-1]].copy()
    bad[0, 0, 0] = np.inf
    np.save(tmp_path / f"{ids[-1]}.npy", bad)
    ev = Evaluator(store, engine="none")
    assert ev.validate(tmp_path) == (ids, [])  # headers only
    with pytest.raises(crysbench.EvaluationError, match=f"1 predictions with NaN/inf: {ids[-1]}"):
        ev.evaluate(tmp_path)


def test_fingerprint_mismatch_names_both_and_the_variant(store, truth, tmp_path):
    path = crysbench.write_predictions(
        tmp_path / "p.zarr", truth, meta={"store_fingerprint": "0" * 64}
    )
    msg, problems = _problems(Evaluator(store), path)
    want = fingerprint_mismatch(
        "0" * 64, store.fingerprint, store.variant, "the predictions", "the store",
        hint="predictions made for another store",
    )  # fmt: skip
    assert want in msg and problems["fingerprint"] == ["0" * 64]
    assert f"({store.variant})" in want and "0" * 64 in want and store.fingerprint in want
    ok = crysbench.write_predictions(
        tmp_path / "q.zarr", truth, meta={"store_fingerprint": store.fingerprint}
    )
    assert Evaluator(store).validate(ok)[0] == store.ids("test")


def test_rows_and_aggregate_are_the_evaluate_results(store, noisy):
    ev = Evaluator(store, engine="none")
    rows = ev.evaluate(noisy)
    assert [r["id"] for r in rows] == store.ids("test")
    res = crysbench.evaluate(noisy, store, engine="none", progress=False)
    assert rows == res["examples"]
    assert ev.aggregate(rows) == res["aggregate"]
    assert 0.3 < res["aggregate"]["pearson"] < 0.99  # noisy, not perfect, not zero
    assert res["shell_edges"] == [float(e) for e in ev.shell_edges]
    assert res["recipe_hash"] == store.recipe_hash
    assert res["versions"] == library_versions()
    assert res["versions"]["crysbench"] == crysbench.__version__


def test_allow_missing_scores_a_subset(store, truth):
    ids = store.ids("test")
    ev = Evaluator(store, engine="none")
    one = {ids[0]: truth[ids[0]]}
    assert "missing" in _problems(ev, one)[1]
    res = ev.results(one, allow_missing=True, progress=False)
    assert res["aggregate"]["missing"] == ids[1:] and res["aggregate"]["n_examples"] == 1
    assert res["examples"][0]["pearson"] == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("path", BOARD_RESULTS, ids=lambda p: str(p.relative_to(REPO)))
def test_board_numbers_are_the_aggregate_of_their_rows(path):
    """Every committed results file (scored before the Evaluator existed): same shells,
    same aggregate from its rows."""
    res = json.loads(path.read_text())
    ev = Evaluator(res["variant"])
    assert res["shell_edges"] == pytest.approx([float(e) for e in ev.shell_edges], rel=1e-12)
    assert ev.aggregate(res["examples"], res["aggregate"]["missing"]) == res["aggregate"]
