"""crysbench.evaluate (crysbench.evaluator): loading, validation, scoring, aggregation,
results file and CLI."""

from __future__ import annotations

import argparse
import importlib
import json

import gemmi
import numpy as np
import pytest

import crysbench
import crysbench.rows
from crysbench.cli import evaluate as cli_evaluate
from crysbench.cli.report import format_results
from crysbench.maps import synthesize
from crysbench.structures import bundled_entries

E = importlib.import_module("crysbench.evaluator")


@pytest.fixture(scope="module")
def store():
    exs = list(crysbench.generate_examples(bundled_entries()["1A8O"], "var-res"))
    exs = sorted(exs, key=lambda e: len(e.hkl))[:3]
    return crysbench.MemoryStore.from_examples(exs, "var-res@1", split="test")


@pytest.fixture(scope="module")
def truth(store):
    return {k: store.get(k).density for k in store.ids("test")}


def noisy(ex, deg, seed=0):
    rng = np.random.default_rng(seed)
    F = ex.F * np.exp(1j * np.deg2rad(deg) * rng.choice([-1, 1], len(ex.F)))
    return synthesize(ex.hkl, F, ex.grid_shape, ex.cell.volume)


def test_truth_vs_truth(store, truth):
    res = E.evaluate(truth, store, engine="builtin", progress=False)
    a = res["aggregate"]
    assert a["pearson"] == pytest.approx(1.0) and a["amplitude_pearson"] == pytest.approx(1.0)
    assert a["phase_error"] < 1e-3 and a["refined_fraction"] == 1.0
    assert a["fraction_below_60"] == 1.0 and a["n_examples"] == 3 and a["missing"] == []
    for row in res["examples"]:
        assert row["refined"] is True and row["final_phase_error_weighted"] < 10
        assert len(row["shells"]) == 12 and len(row["shared_shells"]) == 12
    assert res["schema_version"] == 1 and res["store_fingerprint"] == store.fingerprint
    assert res["crysbench_version"] == crysbench.__version__
    assert len(res["shell_edges"]) == 13 and res["engine"] == "builtin"


def test_known_error_and_exact_aggregate(store, tmp_path):
    preds = {k: noisy(store.get(k), 30.0 + 20 * i) for i, k in enumerate(store.ids("test"))}
    res = E.evaluate(preds, store, engine="none", progress=False)
    pes = [r["phase_error"] for r in res["examples"]]
    assert pes == pytest.approx([30.0, 50.0, 70.0], abs=0.01)
    a = res["aggregate"]
    assert a["phase_error"] == pytest.approx(50.0, abs=0.01)
    assert a["fraction_below_60"] == pytest.approx(2 / 3)
    assert a["refined_fraction"] is None
    # every non-empty shared shell: mean of the three errors; fraction < 60 = 2/3
    for pe, fr, n in zip(
        a["phase_error_by_shell"], a["fraction_below_60_by_shell"], a["n_by_shell"]
    ):
        if n == 3:
            assert pe == pytest.approx(50.0, abs=0.01) and fr == pytest.approx(2 / 3)
    # aggregate recomputable exactly from the rows of the written file
    path = crysbench.write_results(res, tmp_path / "r.json")
    loaded = json.loads(path.read_text())
    assert (
        crysbench.rows.aggregate(loaded["examples"], loaded["aggregate"]["missing"])
        == loaded["aggregate"]
    )


def test_origin_search_option(store):
    ex = store.get(store.ids("test")[0])
    preds = {k: store.get(k).density for k in store.ids("test")}
    preds[ex.id] = np.roll(ex.density, (2, 3, 1), axis=(0, 1, 2))
    plain = E.evaluate(preds, store, engine="none", progress=False)
    row = plain["examples"][0]
    assert row["phase_error"] > 60
    found = E.evaluate(preds, store, engine="none", origin_search=True, progress=False)
    row = found["examples"][0]
    assert row["phase_error"] < 0.01 and row["phase_error_unaligned"] > 60
    assert found["settings"]["origin_search"] is True


def test_folder_npy_ccp4_and_zarr(store, truth, tmp_path):
    folder = tmp_path / "preds"
    folder.mkdir()
    ids = store.ids("test")
    np.save(folder / f"{ids[0]}.npy", truth[ids[0]])
    for key, suffix in ((ids[1], ".ccp4"), (ids[2], ".map")):
        ex = store.get(key)
        m = gemmi.Ccp4Map()
        m.grid = gemmi.FloatGrid(truth[key], ex.cell, gemmi.SpaceGroup("P 1"))
        m.update_ccp4_header()
        m.write_ccp4_map(str(folder / f"{key}{suffix}"))
    (folder / "meta.json").write_text(json.dumps({"store_fingerprint": store.fingerprint}))
    res = E.evaluate(folder, store, engine="none", progress=False)
    assert res["aggregate"]["phase_error"] < 1e-3
    assert res["aggregate"]["pearson"] == pytest.approx(1.0, abs=1e-6)

    import zarr

    g = zarr.open_group(str(tmp_path / "p.zarr"), mode="w")
    for k in ids:
        g.create_array(k, data=truth[k])
    g.attrs["store_fingerprint"] = store.fingerprint
    res = E.evaluate(tmp_path / "p.zarr", store, engine="none", progress=False)
    assert res["aggregate"]["phase_error"] < 1e-3


def test_validation_lists_every_problem(store, truth):
    ids = store.ids("test")
    preds = dict(truth)
    del preds[ids[0]]
    preds["9ZZZ_1.pd_1"] = truth[ids[1]]
    preds[ids[1]] = truth[ids[1]][:-1]
    bad = truth[ids[2]].copy()
    bad[0, 0, 0] = np.nan
    preds[ids[2]] = bad
    with pytest.raises(crysbench.EvaluationError) as err:
        E.evaluate(preds, store, engine="none", progress=False)
    msg = str(err.value)
    assert "unknown" in msg and "9ZZZ_1.pd_1" in msg
    assert "missing" in msg and ids[0] in msg
    assert "wrong shapes" in msg and ids[1] in msg
    assert "NaN/inf" in msg and ids[2] in msg
    assert set(err.value.problems) == {"unknown", "missing", "shape", "nonfinite"}


def test_fingerprint_mismatch(store, truth, tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    for k, v in truth.items():
        np.save(folder / f"{k}.npy", v)
    (folder / "meta.json").write_text(json.dumps({"store_fingerprint": "other"}))
    with pytest.raises(crysbench.EvaluationError, match="fingerprint mismatch"):
        E.evaluate(folder, store, engine="none", progress=False)


def test_allow_missing_reports_missing(store, truth):
    ids = store.ids("test")
    preds = {ids[0]: truth[ids[0]]}
    with pytest.raises(crysbench.EvaluationError, match="2 missing ids"):
        E.evaluate(preds, store, engine="none", progress=False)
    res = E.evaluate(preds, store, engine="none", allow_missing=True, progress=False)
    assert res["aggregate"]["missing"] == ids[1:] and res["aggregate"]["n_examples"] == 1


def test_aggregate_formula_by_hand():
    rows = [
        {"id": "a", "pearson": 0.2, "phase_error": 50.0, "refined": True,
         "shared_shells": [{"phase_error": 10.0}, {"phase_error": 70.0}]},
        {"id": "b", "pearson": 0.4, "phase_error": 80.0, "refined": None,
         "shared_shells": [{"phase_error": 30.0}, {"phase_error": None}]},
        {"id": "c", "pearson": 0.9, "phase_error": 20.0, "refined": False,
         "shared_shells": [{"phase_error": 65.0}, {"phase_error": 20.0}]},
    ]  # fmt: skip
    a = crysbench.rows.aggregate(rows, ["d"])
    assert a["pearson"] == pytest.approx(0.5)
    assert a["stats"]["pearson"]["median"] == pytest.approx(0.4)
    assert a["stats"]["pearson"]["std"] == pytest.approx(np.std([0.2, 0.4, 0.9]))
    assert a["refined_fraction"] == 0.5 and a["n_refine_errors"] == 1
    assert a["phase_error_by_shell"] == pytest.approx([35.0, 45.0])
    assert a["fraction_below_60_by_shell"] == pytest.approx([2 / 3, 0.5])
    assert a["n_by_shell"] == [3, 2] and a["missing"] == ["d"]


def _cli(argv):
    p = argparse.ArgumentParser()
    cli_evaluate.add_arguments(p)
    return cli_evaluate.run(p.parse_args(argv))


def test_cli_writes_results_table_and_plots(store, truth, tmp_path, monkeypatch, capsys):
    import crysbench.store

    monkeypatch.setattr(crysbench.store, "open_store", lambda path: store)
    folder = tmp_path / "p"
    folder.mkdir()
    for k, v in truth.items():
        np.save(folder / f"{k}.npy", v)
    out = tmp_path / "res" / "results.json"
    rc = _cli([str(folder), "--store", "s", "--engine", "none", "--out", str(out), "-q"])
    assert rc == 0
    res = json.loads(out.read_text())
    assert res["aggregate"]["phase_error"] < 1e-3
    assert (out.parent / "results_phase_error.png").stat().st_size > 1000
    assert (out.parent / "results_fraction_below_60.png").stat().st_size > 1000
    table = format_results(res)
    assert "phase_error" in table and "refined fraction" in table


def test_cli_errors_without_traceback(store, truth, tmp_path, monkeypatch, capsys):
    import crysbench.store

    monkeypatch.setattr(crysbench.store, "open_store", lambda path: store)
    folder = tmp_path / "p"
    folder.mkdir()
    k = store.ids("test")[0]
    np.save(folder / f"{k}.npy", np.zeros((2, 2, 2), np.float32))
    rc = _cli([str(folder), "--store", "s", "--engine", "none", "-q"])
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err and k in err and "missing" in err
    rc = _cli([str(tmp_path / "nope"), "--store", "s", "-q"])
    assert rc == 1 and "not found" in capsys.readouterr().err

    def boom(path):
        raise ValueError("no store here")

    monkeypatch.setattr(crysbench.store, "open_store", boom)
    rc = _cli([str(folder), "--store", "s", "-q"])
    err = capsys.readouterr().err
    assert rc == 2 and "no store here" in err and "Traceback" not in err


def test_parallel_matches_serial(store, truth):
    a = E.evaluate(truth, store, engine="none", progress=False)
    b = E.evaluate(truth, store, engine="none", n_jobs=2, progress=False)
    assert a["aggregate"] == b["aggregate"]
