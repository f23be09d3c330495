"""Trivial baselines (baselines/trivial): the floor maps and their board entries."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import crysbench
from baselines.trivial import KINDS, predict_split, radius_of_gyration, trivial_map
from baselines.trivial.maps import CLEARANCE, chain_positions
from crysbench.metrics import pearson
from crysbench.residue_density import residue_electrons

REPO = Path(__file__).resolve().parents[2]


def _item(ex) -> dict:
    """Only what a submission may read: no density, no atoms, no phases."""
    return {"cell": ex.cell.parameters, "grid_shape": tuple(ex.grid_shape),
            "sequence": ex.sequence, "patterson": ex.patterson}  # fmt: skip


@pytest.fixture(scope="module")
def examples(const_res_examples, var_res_examples):
    return const_res_examples[:3] + var_res_examples[:2]


@pytest.mark.parametrize("kind", KINDS)
def test_maps_have_the_grid_and_need_no_truth(examples, kind):
    for ex in examples:
        m = trivial_map(kind, _item(ex))
        assert m.shape == tuple(ex.grid_shape) and m.dtype == np.float32
        assert np.isfinite(m).all()
        if kind == "zero":
            assert not m.any()
        else:
            assert abs(float(m.mean())) < 1e-3 * float(np.abs(m).max())  # no F000


def test_centred_maps_peak_at_the_cell_centre(examples):
    for ex in examples:
        shape = np.array(ex.grid_shape)
        for kind in ("patterson", "blob"):
            peak = np.array(np.unravel_index(np.argmax(trivial_map(kind, _item(ex))), shape))
            assert np.all(np.abs(peak - shape // 2) <= 1), (kind, peak, shape)


def test_blob_holds_the_fragments_electrons():
    cell, shape, seq = (40.0, 40.0, 40.0, 90.0, 90.0, 90.0), (80, 80, 80), "GAWKE"
    rho = trivial_map("blob", {"cell": cell, "grid_shape": shape, "sequence": seq})
    voxel = 40.0**3 / np.prod(shape)
    peak_excess = float((rho - rho.min()).sum() * voxel)  # mean removed: add back the floor
    assert peak_excess == pytest.approx(sum(residue_electrons(r) for r in seq), rel=0.02)
    assert radius_of_gyration(15) == pytest.approx(6.16, abs=0.01)


def test_chain_runs_along_the_longest_edge_inside_the_cell():
    cell = (30.0, 70.0, 28.0, 90.0, 100.0, 90.0)
    pos = chain_positions(cell, 15)
    assert np.allclose(pos[:, [0, 2]], 0.5)
    step = np.diff(pos[:, 1]) * cell[1]
    assert np.allclose(step, 3.8)
    short = chain_positions((20.0, 20.0, 20.0, 90, 90, 90), 15)
    extent = (short[:, 0].max() - short[:, 0].min()) * 20.0
    assert extent == pytest.approx(20.0 - 2 * CLEARANCE)


def test_floor_is_above_zero_and_below_a_solution(examples):
    # Every non-zero floor correlates with the truth, but weakly.
    for kind in ("patterson", "blob", "chain"):
        pcs = [pearson(trivial_map(kind, _item(ex)), ex.density) for ex in examples]
        assert 0.05 < float(np.mean(pcs)) < 0.5, (kind, pcs)


def test_unknown_kind_is_refused(examples):
    with pytest.raises(ValueError, match="unknown trivial baseline"):
        trivial_map("oracle", _item(examples[0]))


def test_predict_split_writes_evaluator_format(store_path, tmp_path):
    store = crysbench.open_store(store_path)
    split = "test"
    n = predict_split(store_path, "blob", tmp_path / "pred", split=split)
    assert n == len(store.ids(split))
    preds = crysbench.load_predictions(tmp_path / "pred")
    assert set(preds) == set(store.ids(split))


def test_every_board_shows_the_floor():
    for board in sorted((REPO / "leaderboards").glob("*/*/board.json")):
        for kind in KINDS:
            entry = board.parent / f"trivial-{kind}"
            meta = json.loads((entry / "meta.json").read_text())
            assert meta["parameters"] == 0 and meta["code"] == "run.sh"
            assert (entry / "run.sh").is_file() and (entry / "results.json").is_file()


def test_submit_writes_a_meta_template(tmp_path, capsys):
    from crysbench.cli import main
    from crysbench.submission import validate_meta

    path = tmp_path / "meta.json"
    assert main(["submit", "--meta-template", str(path), "--name", "my-model"]) == 0
    meta = json.loads(path.read_text())
    filled = {**meta, "seeds": 1, "date": "2026-01-01", "store_fingerprint": "f"}
    assert meta["method"] == "my-model" and validate_meta(filled) == []
    assert main(["submit", "--meta-template", str(path)]) == 1  # never overwrites
    assert main(["submit", "predictions"]) == 1
    assert "--name and --meta are required" in capsys.readouterr().err
