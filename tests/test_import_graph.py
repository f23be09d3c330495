"""The package's import graph (``.ci/import_graph.py``): no cycle, lazy (function-level)
imports included, and ``crysbench.load`` -> ``crysbench.torchdata`` one way only."""

from __future__ import annotations

import importlib.util
import runpy
import textwrap
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / ".ci" / "import_graph.py"


@pytest.fixture
def tool():
    """The script as a module (so that its ``ROOT`` can be pointed at a planted package)."""
    spec = importlib.util.spec_from_file_location("import_graph", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_no_cycle_lazy_included_and_load_torchdata_one_way(capsys):
    tool = runpy.run_path(str(SCRIPT))
    assert tool["main"](["--one-way", "crysbench.load", "crysbench.torchdata"]) == 0
    out = capsys.readouterr().out
    assert "top-level import cycles: 0" in out and "one way or none" in out
    assert "cycles through lazy (function-level) imports: 0" in out
    g = tool["graph"]()
    assert "crysbench.torchdata" in g["crysbench.load"]  # the lazy import of dataloader()
    assert "crysbench.load" not in g["crysbench.torchdata"]


def test_cycle_finder_finds_a_planted_cycle():
    tool = runpy.run_path(str(SCRIPT))
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert tool["cycles"](edges) == [["a", "b", "c"]]
    assert tool["cycles"]({"a": {"b"}, "b": set()}) == []


def test_lazy_cycle_fails_and_type_checking_imports_are_no_edges(tool, tmp_path, monkeypatch):
    pkg = tmp_path / "crysbench"
    pkg.mkdir()
    files = {
        "__init__.py": "",
        "a.py": "from crysbench import b, c\n",
        "b.py": "def f():\n    from crysbench.a import x\n",  # lazy: a <-> b
        "c.py": """
            from typing import TYPE_CHECKING
            if TYPE_CHECKING:
                from crysbench.a import Thing
            def g() -> "Thing": ...
        """,
    }
    for name, text in files.items():
        (pkg / name).write_text(textwrap.dedent(text))
    monkeypatch.setattr(tool, "ROOT", pkg)
    g = tool.graph()
    assert g["crysbench.b"] == {"crysbench.a": False}  # lazy
    assert g["crysbench.c"] == {}  # TYPE_CHECKING only: no edge, so a -> c is no cycle
    assert tool.main(["--top-level-only"]) == 0
    assert tool.main([]) == 1
