"""The package's import graph (``.ci/import_graph.py``): no top-level cycle, and
``crysbench.load`` -> ``crysbench.torchdata`` one way only, lazy imports included."""

from __future__ import annotations

import runpy
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / ".ci" / "import_graph.py"


def test_no_top_level_cycle_and_load_torchdata_one_way(capsys):
    tool = runpy.run_path(str(SCRIPT))
    assert tool["main"](["--one-way", "crysbench.load", "crysbench.torchdata"]) == 0
    out = capsys.readouterr().out
    assert "top-level import cycles: 0" in out and "one way or none" in out
    g = tool["graph"]()
    assert "crysbench.torchdata" in g["crysbench.load"]  # the lazy import of dataloader()
    assert "crysbench.load" not in g["crysbench.torchdata"]


def test_cycle_finder_finds_a_planted_cycle():
    tool = runpy.run_path(str(SCRIPT))
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert tool["cycles"](edges) == [["a", "b", "c"]]
    assert tool["cycles"]({"a": {"b"}, "b": set()}) == []
