"""Reliability: leaderboard entries cannot be gamed by editing their JSON.

Each case edits a copy of a committed board the way a hostile submitter would, keeping the
aggregate recomputed from the edited rows (so the aggregate check alone passes), and
asserts that ``crysbench leaderboard check`` names the file and what is inconsistent.
"""

import json
import shutil
from pathlib import Path

import pytest

from crysbench.cli import main
from crysbench.rows import aggregate

REPO = Path(__file__).resolve().parent.parent / "leaderboards"


@pytest.fixture()
def boards(tmp_path):
    root = tmp_path / "leaderboards"
    for name in ("const-res", "dipeptide"):
        shutil.copytree(REPO / name, root / name)
    return root


def _rewrite(path: Path, fn) -> None:
    res = json.loads(path.read_text())
    fn(res)
    res["aggregate"] = json.loads(json.dumps(aggregate(res["examples"], [])))
    path.write_text(json.dumps(res, indent=1) + "\n")


def _check(root, capsys) -> tuple[int, str]:
    rc = main(["leaderboard", "check", str(root)])
    return rc, capsys.readouterr().err


def test_committed_boards_pass(capsys):
    assert main(["leaderboard", "check", str(REPO)]) == 0


def test_every_row_edited_and_aggregate_recomputed(boards, capsys):
    entry = boards / "const-res/1/shelxd-dualspace"
    before = (entry / "meta.json").read_bytes()

    def better(res):
        for r in res["examples"]:
            r["phase_error"] = max(0.0, r["phase_error"] - 10.0)

    _rewrite(entry / "results.json", better)
    rc, err = _check(boards, capsys)
    assert rc == 1
    assert "shelxd-dualspace/results.json: example" in err
    assert "is not the mean of its shells" in err
    assert (entry / "meta.json").read_bytes() == before  # check never rewrites entries


def test_row_contradicting_its_shells(boards, capsys):
    def edit(res):
        res["examples"][0]["shells"][3]["phase_error"] = 1.0

    _rewrite(boards / "const-res/1/shelxd-dualspace/results.json", edit)
    rc, err = _check(boards, capsys)
    assert rc == 1 and "is not the mean of its shells" in err


def test_refined_flag_against_the_engine_rule(boards, capsys):
    def edit(res):
        for r in res["examples"]:
            r["refined"] = True

    _rewrite(boards / "dipeptide/1/reccrysformer-tiny/results.json", edit)
    rc, err = _check(boards, capsys)
    assert rc == 1 and "the engine's 40° success rule" in err


def test_seeds_that_are_copies(boards, capsys):
    entry = boards / "dipeptide/1/reccrysformer-tiny"
    for seed in ("results-seed2.json", "results-seed3.json"):
        res = json.loads((entry / "results.json").read_text())
        res["elapsed_s"] = 1.0 + len(seed)  # not byte-identical: still a copy
        (entry / seed).write_text(json.dumps(res))
    rc, err = _check(boards, capsys)
    assert rc == 1
    assert "results-seed2.json: 276 of 276 examples score exactly as in results.json" in err
