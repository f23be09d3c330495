"""The import graph of the crysbench package, and its cycles.

Reads every module under ``crysbench/`` with :mod:`ast` (nothing is imported) and
collects its imports of other crysbench modules: *top-level* ones (run when the module
is imported) and *lazy* ones (inside functions). Imports under ``if TYPE_CHECKING:`` are
for type checkers only and are not edges. Prints the cycles of the top-level graph and
of the full graph (top-level + lazy); exits 1 when either has a cycle (with
``--top-level-only``: only a top-level one), or when a pair given with ``--one-way A B``
imports each other at all.

A lazy cycle does not fail at import time, but it means two modules each need the other:
the shared function belongs in the lower one (or a small module below both).

Usage::

    python .ci/import_graph.py                      # cycles, exit 1 on any
    python .ci/import_graph.py --top-level-only     # exit 1 only on a top-level cycle
    python .ci/import_graph.py --one-way crysbench.load crysbench.torchdata
    python .ci/import_graph.py --edges              # every edge, "a -> b [lazy]"
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "crysbench"


def module_name(path: Path) -> str:
    """Dotted name of a file under ``crysbench/`` (a package's ``__init__`` is the package)."""
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def imports(path: Path, modules: set[str]) -> dict[str, bool]:
    """crysbench modules imported by one file -> True when at top level (else lazy)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: dict[str, bool] = {}

    def add(target: str, top: bool) -> None:
        while target and target not in modules:  # "crysbench.x.y" where y is a name
            target = target.rpartition(".")[0]
        if target and target != name:
            out[target] = out.get(target, False) or top

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub, top)
                continue
            if isinstance(child, ast.Import):
                for a in child.names:
                    if a.name.startswith("crysbench"):
                        add(a.name, top)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - child.level + 1]
                                    + ([base] if base else []))  # fmt: skip
                if base.startswith("crysbench"):
                    for a in child.names:
                        sub = f"{base}.{a.name}"
                        add(sub if sub in modules else base, top)
            inner = top and not isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
            )
            visit(child, inner)

    visit(ast.parse(path.read_text(), str(path)), True)
    return out


def graph() -> dict[str, dict[str, bool]]:
    files = sorted(ROOT.rglob("*.py"))
    modules = {module_name(p) for p in files}
    return {module_name(p): imports(p, modules) for p in files}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    sys.setrecursionlimit(10000)

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            strong(v)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--one-way", nargs=2, action="append", default=[], metavar=("A", "B"),
                   help="fail unless at most one of A, B imports the other (lazy too)")  # fmt: skip
    p.add_argument("--top-level-only", action="store_true",
                   help="fail only on top-level cycles (lazy ones are still printed)")  # fmt: skip
    p.add_argument("--edges", action="store_true", help="print every edge")
    args = p.parse_args(argv)
    g = graph()
    top = {m: {t for t, is_top in d.items() if is_top} for m, d in g.items()}
    full = {m: set(d) for m, d in g.items()}
    if args.edges:
        for m in sorted(g):
            for t, is_top in sorted(g[m].items()):
                print(f"{m} -> {t}" + ("" if is_top else " [lazy]"))
    n_top = sum(map(len, top.values()))
    n_lazy = sum(map(len, full.values())) - n_top
    print(f"{len(g)} modules, {n_top} top-level imports, {n_lazy} lazy imports")
    bad = 0
    top_cycles = cycles(top)
    print(f"top-level import cycles: {len(top_cycles)}")
    for c in top_cycles:
        print("  " + " <-> ".join(c))
        bad += 1
    full_cycles = cycles(full)
    print(f"cycles through lazy (function-level) imports: {len(full_cycles)}")
    for c in full_cycles:
        print("  " + " <-> ".join(c))
    if not args.top_level_only:
        bad += len(full_cycles)
    for a, b in args.one_way:
        both = b in full.get(a, ()) and a in full.get(b, ())
        print(f"{a} / {b}: " + ("import each other" if both else "one way or none"))
        bad += both
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
