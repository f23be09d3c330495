"""Reliability: entries with committed compact predictions are re-scored by the check.

A hostile edit that keeps every row consistent with its shells and the aggregate
consistent with the rows passes the JSON checks; re-scoring the committed predictions on
the store catches it.
"""

import json

import numpy as np
import pytest

import crysbench
from crysbench import leaderboard as lb
from crysbench.cli import main
from crysbench.leaderboard.rescore import read_compact
from crysbench.rows import aggregate

META = {
    "method": "Noisy oracle", "authors": ["A. Tester"],
    "code": "https://github.com/example/oracle/tree/0123abc", "paper": None, "parameters": 0,
    "hardware": "1 CPU core", "training_time": "none", "training_data": "none",
    "extra_data": False,
}  # fmt: skip


@pytest.fixture(scope="module")
def store_path(tmp_path_factory, entries):
    out = str(tmp_path_factory.mktemp("rs") / "s.zarr")
    subset = {k: entries[k] for k in ("1A8O", "3JQH")}
    crysbench.build_store("const-res@1", out=out, entries=subset, progress=False)
    return out


@pytest.fixture()
def entry(store_path, tmp_path):
    store = crysbench.open_store(store_path)
    rng = np.random.default_rng(1)
    preds = {}
    for i in store.ids("test"):
        d = store.get(i).density
        preds[i] = (d + rng.normal(0, 0.7 * d.std(), d.shape)).astype(np.float32)
    board = lb.create_board(store, root=tmp_path / "leaderboards")
    return lb.submit(preds, store, "noisy", META, board=board, engine="none",
                     progress=False, compact_predictions=True)  # fmt: skip


def test_compact_predictions_are_small_and_rescore_clean(entry, store_path, capsys):
    pf = entry / "predictions.npz"
    assert pf.is_file() and pf.stat().st_size < 40_000
    assert set(read_compact(pf)) == set(crysbench.open_store(store_path).ids("test"))
    root = entry.parent.parent.parent
    assert main(["leaderboard", "check", str(root), "--store", store_path]) == 0
    assert "1 submission(s) valid" in capsys.readouterr().out


def test_consistent_hand_edit_fails_on_rescoring(entry, store_path, capsys):
    path = entry / "results.json"
    res = json.loads(path.read_text())
    for r in res["examples"]:  # halve every phase error, rows and shells alike
        r["phase_error"] /= 2
        r["phase_error_weighted"] /= 2
        for sh in r["shells"] + r["shared_shells"]:
            if sh["n"]:
                sh["phase_error"] /= 2
                sh["phase_error_weighted"] /= 2
    res["aggregate"] = json.loads(json.dumps(aggregate(res["examples"], [])))
    path.write_text(json.dumps(res, indent=1))
    root = entry.parent.parent.parent
    lb.check_leaderboards(root, write=True)  # the table too
    assert main(["leaderboard", "check", str(root)]) == 0  # JSON alone cannot tell
    capsys.readouterr()
    assert main(["leaderboard", "check", str(root), "--store", store_path]) == 1
    err = capsys.readouterr().err
    assert "noisy/results.json: example 3JQH_1.pd_1: phase_error" in err
    assert "re-scored" in err and "do not score as the row says" in err
