"""Registries: the boards (crysbench.leaderboard.registry) and the recipes' shared values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crysbench.leaderboard import registry
from crysbench.leaderboard.registry import (
    LeaderboardError,
    count_entries,
    default_root,
    find_board,
    find_boards,
    load_board,
)
from crysbench.variants import VARIANTS, recipe_constant

REPO = Path(__file__).resolve().parent.parent


def _board(root: Path, variant: str, fp: str, **extra) -> Path:
    name, version = variant.split("@")
    d = root / name / version
    d.mkdir(parents=True)
    (d / "board.json").write_text(json.dumps({"variant": variant, "test_fingerprint": fp, **extra}))
    return d


def test_default_root_is_the_repository_boards(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no ./leaderboards here: the one next to the package
    assert default_root() == REPO / "leaderboards"
    (tmp_path / "leaderboards").mkdir()
    assert default_root() == tmp_path / "leaderboards"


def test_find_boards_skips_staging_folders(tmp_path):
    a = _board(tmp_path, "const-res@1", "aa")
    hidden = tmp_path / ".stage" / "x"
    hidden.mkdir(parents=True)
    (hidden / "board.json").write_text("{}")
    assert find_boards(tmp_path) == [a]
    assert find_boards(tmp_path / "missing") == []


def test_count_entries_ignores_dot_and_underscore_folders(tmp_path):
    b = _board(tmp_path, "const-res@1", "aa")
    for name in ("one", "two", ".staging", "_private"):
        (b / name).mkdir()
    assert count_entries(b) == 2


@pytest.mark.parametrize(
    "content, why",
    [
        ("not json", "cannot read board"),
        ("[]", "must hold a JSON object"),
        ('{"variant": "const-res@1"}', "missing 'test_fingerprint'"),
        ('{"variant": "nope@1", "test_fingerprint": "x"}', "unknown variant"),
        ('{"variant": "const-res@1", "test_fingerprint": "x", "rank_by": "speed"}', "rank_by"),
    ],
)
def test_load_board_says_what_is_wrong(tmp_path, content, why):
    (tmp_path / "board.json").write_text(content)
    with pytest.raises(LeaderboardError, match=why):
        load_board(tmp_path)


def test_find_board_by_fingerprint_with_hints(tmp_path):
    a = _board(tmp_path, "const-res@1", "a" * 64)
    assert find_board(tmp_path, "a" * 64) == a
    with pytest.raises(LeaderboardError, match="boards for const-res@1: .*rebuild the store"):
        find_board(tmp_path, "b" * 64, "const-res@1")
    with pytest.raises(LeaderboardError, match="create one with `crysbench leaderboard new"):
        find_board(tmp_path, "b" * 64, "var-res@1")


def test_every_shipped_board_loads():
    boards = find_boards(REPO / "leaderboards")
    assert boards, "the repository ships boards"
    for b in boards:
        assert load_board(b)["variant"] in VARIANTS


def test_show_path_is_relative_inside_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert registry.show_path(tmp_path / "a" / "b") == str(Path("a") / "b")
    assert registry.show_path("/") == "/"


def test_recipe_constant_is_the_registry_value():
    assert recipe_constant("b_factor") == next(iter(VARIANTS.values())).b_factor
    with pytest.raises(ValueError, match="differs between variants"):
        recipe_constant("segment_length")


def test_residue_densities_use_the_recipe_b_factor():
    from crysbench.residue_density import RESIDUE_B_FACTOR

    assert {v.b_factor for v in VARIANTS.values()} == {RESIDUE_B_FACTOR}
