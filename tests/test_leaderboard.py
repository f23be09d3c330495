"""Leaderboards and ``crysbench submit`` (issue 10, SPEC §8): Matbench-style checks of
submission folders and byte-identical regeneration of the tables."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import crysbench
from crysbench import leaderboard as lb
from crysbench.cli import main
from crysbench.evaluator import evaluate
from crysbench.leaderboard.submission import MAX_FILE_BYTES, validate_meta

REPO = Path(__file__).resolve().parent.parent
DEMO = ["1A8O", "3JQH", "4E43", "4CUP", "4ZHL"]
META = {
    "method": "Truth oracle",
    "authors": ["A. Tester"],
    "code": "https://github.com/example/oracle/tree/0123abc",
    "paper": None,
    "parameters": 0,
    "hardware": "1 CPU core",
    "training_time": "none",
    "training_data": "none: returns the true map (const-res@1 bundled demo)",
    "extra_data": False,
}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A const-res store of five bundled entries (test split: 3JQH, 4ZHL)."""
    out = tmp_path_factory.mktemp("store") / "demo.zarr"
    entries = crysbench.bundled_entries()
    crysbench.build_store(
        "const-res@1", out=str(out), entries={k: entries[k] for k in DEMO}, progress=False
    )
    return crysbench.open_store(str(out))


@pytest.fixture(scope="module")
def truth(store):
    return {i: store.get(i).density for i in store.ids("test")}


@pytest.fixture(scope="module")
def results(store, truth):
    """Results of two 'seeds': the true maps, and the true maps plus noise."""
    rng = np.random.default_rng(0)
    noisy = {
        k: (v + rng.normal(0, 0.5 * v.std(), v.shape)).astype(np.float32) for k, v in truth.items()
    }
    return [
        evaluate(truth, store, engine="none", progress=False),
        evaluate(noisy, store, engine="none", progress=False),
    ]


@pytest.fixture()
def board(tmp_path, store):
    return lb.create_board(store, root=tmp_path / "leaderboards")


@pytest.fixture()
def entry(board, results):
    """A valid one-seed entry on a fresh board."""
    return lb.write_submission(board, "oracle", results[:1], META)


def _edit(path: Path, fn) -> None:
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data, indent=1) + "\n")


def _problems(board: Path) -> str:
    return "\n".join(lb.check_leaderboards(board.parent.parent))


# --------------------------------------------------------------------------- valid
def test_empty_board_passes(board, store):
    b = json.loads((board / "board.json").read_text())
    assert b["variant"] == "const-res@1" and b["test_fingerprint"] == store.fingerprint
    assert b["n_test"] == len(store.ids("test"))
    assert lb.check_leaderboards(board.parent.parent) == []
    assert "No entries yet" in (board / "README.md").read_text()


def test_submit_writes_valid_folder(board, store, truth, tmp_path):
    preds = tmp_path / "preds"
    preds.mkdir()
    for k, v in truth.items():
        np.save(preds / f"{k}.npy", v)
    path = lb.submit(preds, store, "oracle", META, root=board.parent.parent, engine="none",
                     progress=False)  # fmt: skip
    assert path == board / "oracle"
    assert sorted(p.name for p in path.iterdir()) == ["meta.json", "results.json"]
    meta = json.loads((path / "meta.json").read_text())
    assert meta["store_fingerprint"] == store.fingerprint and meta["seeds"] == 1
    res = json.loads((path / "results.json").read_text())
    assert res["predictions"] == "preds"  # no local absolute path in the repository
    assert lb.check_leaderboards(board.parent.parent) == []
    text = (board / "README.md").read_text()
    assert "| 1 | Truth oracle (`oracle`) | 1.000 | 0.0 | 1.00 | — (none) |" in text


def test_table_regenerated_byte_identical(entry, results, tmp_path):
    board = entry.parent
    lb.write_submission(board, "noisy", results[1:], dict(META, method="Noisy oracle"))
    before = (board / "README.md").read_bytes()
    assert lb.render_board(board).encode() == before
    assert lb.check_leaderboards(board.parent.parent, write=True) == []
    assert (board / "README.md").read_bytes() == before
    moved = tmp_path / "elsewhere" / "board"
    shutil.copytree(board, moved)
    assert lb.render_board(moved).encode() == before  # no paths or timestamps in the table
    rows = [line for line in before.decode().splitlines() if line.startswith("| 1 ")]
    assert "Truth oracle" in rows[0]  # ranked by phase error


def test_seeds_mean_std(board, results):
    meta = dict(META, method="Two seeds")
    path = lb.write_submission(board, "two-seeds", results, meta)
    assert (path / "results-seed2.json").is_file()
    assert json.loads((path / "meta.json").read_text())["seeds"] == 2
    assert " ± " in (board / "README.md").read_text()
    assert _problems(board) == ""
    (path / "results-seed2.json").unlink()
    assert "seeds is 2 but there are 1 results files" in _problems(board)


def test_cli_check_and_submit_results(board, results, tmp_path, capsys):
    root = board.parent.parent
    rfile = tmp_path / "results.json"
    rfile.write_text(json.dumps(results[0]))
    mfile = tmp_path / "meta.json"
    mfile.write_text(json.dumps(META))
    rc = main(["submit", "--results", str(rfile), "--name", "oracle", "--meta", str(mfile),
               "--root", str(root)])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    assert main(["leaderboard", "check", str(root)]) == 0
    assert "ok: 1 board(s), 1 submission(s)" in capsys.readouterr().out
    rc = main(["submit", "--results", str(rfile), "--name", "oracle", "--meta", str(mfile),
               "--root", str(root)])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 1 and "already exists" in err and "Traceback" not in err


# --------------------------------------------------------------------------- failures
def test_tampered_aggregate_fails(entry):
    _edit(entry / "results.json", lambda r: r["aggregate"].__setitem__("pearson", 0.99))
    msg = _problems(entry.parent)
    assert "oracle/results.json: aggregate.pearson = 0.99 but the per-example rows give" in msg


def test_tampered_row_fails(entry):
    def bump(r):
        r["examples"][0]["phase_error"] = 5.0

    _edit(entry / "results.json", bump)
    assert "aggregate.phase_error = " in _problems(entry.parent)


def test_wrong_fingerprint_fails(entry, results, store):
    def other(r):
        r["store_fingerprint"] = "0" * 64

    _edit(entry / "results.json", other)
    msg = _problems(entry.parent)
    assert "test fingerprint mismatch (const-res@1)" in msg
    assert f"store_fingerprint has {'0' * 64}, the board has {store.fingerprint}" in msg
    bad = copy.deepcopy(results[0])
    bad["store_fingerprint"] = "f" * 64
    with pytest.raises(lb.LeaderboardError, match="mismatch .* has f{64}, the board has"):
        lb.write_submission(entry.parent, "other", [bad], dict(META, method="Other"))
    with pytest.raises(lb.LeaderboardError, match="no board under .* has test fingerprint"):
        lb.find_board(entry.parent.parent.parent, "f" * 64, "const-res@1")


def test_missing_field_fails(entry, board, results):
    _edit(entry / "meta.json", lambda m: m.pop("code"))
    assert "oracle/meta.json: missing required field 'code'" in _problems(board)
    with pytest.raises(lb.LeaderboardError, match="missing required field 'authors'"):
        lb.write_submission(board, "x", results[:1], {k: v for k, v in META.items()
                                                       if k != "authors"})  # fmt: skip
    _edit(entry / "results.json", lambda r: r.pop("aggregate"))
    assert "results.json: missing field(s) aggregate" in _problems(board)


def test_duplicate_name_fails(entry, results):
    board = entry.parent
    with pytest.raises(lb.LeaderboardError, match="entry 'oracle' already exists"):
        lb.write_submission(board, "oracle", results[:1], META)
    with pytest.raises(lb.LeaderboardError, match="method 'Truth oracle' already has an entry"):
        lb.write_submission(board, "oracle-2", results[:1], META)
    shutil.copytree(entry, board / "oracle-copy")  # a hand-copied folder
    assert "duplicate method name 'Truth oracle'" in _problems(board)
    with pytest.raises(lb.LeaderboardError, match="invalid entry name 'My Model'"):
        lb.write_submission(board, "My Model", results[:1], dict(META, method="M"))


def test_stale_table_fails(entry):
    board = entry.parent
    readme = board / "README.md"
    readme.write_text(readme.read_text().replace("| 1.000 |", "| 1.001 |"))
    assert "README.md: differs from the table generated" in _problems(board)
    _edit(entry / "meta.json", lambda m: m.__setitem__("parameters", 12))  # meta edit: stale too
    assert lb.check_leaderboards(board.parent.parent, write=True) == []
    assert lb.check_leaderboards(board.parent.parent) == []
    (board / "README.md").unlink()
    assert "README.md: missing" in _problems(board)


def test_partial_results_and_size_cap_fail(entry, results, store, truth):
    some = dict(list(truth.items())[:-1])
    partial = evaluate(some, store, engine="none", allow_missing=True, progress=False)
    with pytest.raises(lb.LeaderboardError, match="were not predicted"):
        lb.write_submission(entry.parent, "partial", [partial], dict(META, method="Part"))
    (entry / "weights.bin").write_bytes(b"\0" * (MAX_FILE_BYTES + 1))
    assert "weights.bin: 10.0 MB exceeds the 10 MB cap" in _problems(entry.parent)


def test_stray_submission_and_bad_board(tmp_path, entry):
    root = entry.parent.parent.parent
    shutil.copytree(entry, root / "stray")
    assert "stray: submission outside a board" in "\n".join(lb.check_leaderboards(root))
    (entry.parent / "board.json").write_text("{}")
    assert "missing 'variant'" in "\n".join(lb.check_leaderboards(root))


def test_meta_validation_messages():
    assert validate_meta(dict(META, date="2024-01-01", seeds=1, store_fingerprint="x")) == []
    p = validate_meta(dict(META, parameters="1M", code="github.com/x", autors=["x"]))
    text = "\n".join(p)
    assert "field 'parameters' must be an integer >= 0" in text
    assert "field 'code' must be an http(s) link" in text
    assert "unknown field 'autors'" in text


def test_repository_leaderboards_pass():
    root = REPO / "leaderboards"
    if not any(root.glob("*/*/board.json")):
        pytest.skip("no boards in the repository yet")
    assert lb.check_leaderboards(root) == []


def test_readme_how_to_submit_is_short():
    text = (REPO / "leaderboards" / "README.md").read_text()
    section = text.split("## How to submit", 1)[1].split("\n## ", 1)[0]
    assert 0 < len([line for line in section.splitlines() if line.strip()]) <= 5


def test_repository_board_matches_fresh_build(store):
    """The bundled const-res@1 board ranks the test split a fresh build makes (same test
    entries as the five-entry store). If this fails, build output changed: bump the variant
    version, or (before release) re-create the boards with `crysbench leaderboard new`."""
    board = REPO / "leaderboards" / "const-res@1" / "1"
    if not (board / "board.json").is_file():
        pytest.skip("no const-res@1 board in the repository")
    assert lb.find_board(REPO / "leaderboards", store.fingerprint, store.variant) == board
