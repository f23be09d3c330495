"""`crysbench evaluate` end to end on a real store built from bundled entries."""

import json

import numpy as np
import pytest

import crysbench
from crysbench.cli import main


@pytest.fixture(scope="module")
def truth_predictions(store_path, tmp_path_factory):
    store = crysbench.open_store(store_path)
    folder = tmp_path_factory.mktemp("pred")
    for i in store.ids("test"):
        np.save(folder / f"{i}.npy", store.get(i).density)
    return folder


def test_truth_scores_perfectly(store_path, truth_predictions, tmp_path):
    out = tmp_path / "results.json"
    rc = main(
        [
            "evaluate",
            str(truth_predictions),
            "--store",
            store_path,
            "--engine",
            "none",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert rc == 0
    res = json.loads(out.read_text())
    assert res["store_fingerprint"] == crysbench.open_store(store_path).fingerprint
    assert res["aggregate"]["pearson"] == pytest.approx(1.0, abs=1e-5)
    assert res["aggregate"]["phase_error"] == pytest.approx(0.0, abs=0.5)
    assert len(res["examples"]) == len(crysbench.open_store(store_path).ids("test"))


def test_python_api_matches(store_path, truth_predictions):
    res = crysbench.evaluate(
        str(truth_predictions), crysbench.open_store(store_path), engine="none", progress=False
    )
    assert res["aggregate"]["pearson"] == pytest.approx(1.0, abs=1e-5)


def test_bad_predictions_are_reported(store_path, truth_predictions, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    ids = crysbench.open_store(store_path).ids("test")
    for i in ids[1:]:
        np.save(bad / f"{i}.npy", np.load(truth_predictions / f"{i}.npy"))
    np.save(bad / f"{ids[1]}.npy", np.zeros((3, 3, 3), np.float32))
    np.save(bad / "9XYZ_1.pd_1.npy", np.zeros((3, 3, 3), np.float32))
    rc = main(["evaluate", str(bad), "--store", store_path, "--engine", "none", "--quiet"])
    err = capsys.readouterr().err
    assert rc != 0 and "Traceback" not in err
    assert ids[0] in err and ids[1] in err and "9XYZ_1.pd_1" in err
