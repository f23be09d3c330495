"""Checking boards: scan the entries, validate them, compare the committed table. (io)

``crysbench leaderboard check`` (run by CI) calls :func:`check_leaderboards`: it validates
every submission (:mod:`crysbench.leaderboard.submission`), re-scores committed compact
predictions when given a matching store (:mod:`crysbench.leaderboard.rescore`), and fails
when a committed table differs from the regenerated one, so a hand-edited number fails.

Examples
--------
>>> import tempfile
>>> root = Path(tempfile.mkdtemp())
>>> check_leaderboards(root)  # no boards: nothing to check
[]
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crysbench.leaderboard.registry import (
    LeaderboardError,
    default_root,
    entry_dirs,
    find_boards,
    is_hidden,
    load_board,
    show_path,
)
from crysbench.leaderboard.render import render
from crysbench.leaderboard.submission import check_submission, results_files

__all__ = ["scan_board", "render_board", "check_board", "check_leaderboards"]


def scan_board(board_dir: Path) -> tuple[dict | None, list[dict], list[str]]:
    """(board, valid entries, problems). An entry is ``{"name", "meta", "results"}``."""
    try:
        board = load_board(board_dir)
    except LeaderboardError as exc:
        return None, [], [str(exc)]
    problems: list[str] = []
    entries: list[dict] = []
    for sub in entry_dirs(board_dir):
        p = check_submission(sub, board, label=show_path(sub))
        if p:
            problems += p
            continue
        meta = json.loads((sub / "meta.json").read_text(encoding="utf-8"))
        results = [json.loads(f.read_text(encoding="utf-8")) for f in results_files(sub)]
        entries.append({"name": sub.name, "meta": meta, "results": results})
    names: dict[str, str] = {}
    for sub in entry_dirs(board_dir):
        key = sub.name.lower()
        if key in names:
            problems.append(f"{show_path(sub)}: duplicate entry name (also {names[key]})")
        names[key] = sub.name
    methods: dict[str, str] = {}
    for e in entries:
        key = " ".join(str(e["meta"]["method"]).lower().split())
        if key in methods:
            problems.append(
                f"{show_path(board_dir / e['name'])}/meta.json: duplicate method name "
                f"{e['meta']['method']!r} (also in {methods[key]}); one entry per method"
            )
        else:
            methods[key] = e["name"]
    return board, entries, problems


def render_board(board_dir: str | Path) -> str:
    """The board's ``README.md`` text, from its ``board.json`` and valid submissions.

    Deterministic: entries sorted by rank then name, fixed float formats, no timestamps
    besides the submission dates in ``meta.json``. Invalid submissions are left out (and
    reported by :func:`check_board`).

    Raises
    ------
    LeaderboardError
        Missing or invalid ``board.json``.
    """
    board_dir = Path(board_dir)
    board, entries, _ = scan_board(board_dir)
    if board is None:
        load_board(board_dir)  # raises with the reason
    return render(board, entries)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- checking
def check_board(
    board_dir: str | Path, write: bool = False, stores: Sequence[Any] = ()
) -> list[str]:
    """Validate every submission of one board and its generated table.

    Parameters
    ----------
    board_dir : path
    write : bool
        Rewrite ``README.md`` when it differs instead of reporting it.
    stores : sequence of Store
        Stores to re-score committed predictions with
        (:mod:`crysbench.leaderboard.rescore`); the one with the board's test fingerprint
        is used.

    Returns
    -------
    list of str
        Problems, one line each, naming the file; empty when the board is valid.
    """
    board_dir = Path(board_dir)
    board, entries, problems = scan_board(board_dir)
    if board is None:
        return problems
    problems += _rescore(board_dir, board, entries, stores)
    text = render(board, entries)
    readme = board_dir / "README.md"
    current = readme.read_text(encoding="utf-8") if readme.is_file() else None
    if current != text:
        if write:
            readme.write_text(text, encoding="utf-8")
        elif current is None:
            problems.append(
                f"{show_path(readme)}: missing; run `crysbench leaderboard check --write`"
            )
        else:
            problems.append(
                f"{show_path(readme)}: differs from the table generated from the submission "
                "folders (hand-edited or stale); run `crysbench leaderboard check --write`"
            )
    return problems


def _rescore(board_dir: Path, board: dict, entries: list[dict], stores: Sequence[Any]) -> list[str]:
    """Re-score the entries that carry compact predictions, with a matching store."""
    from crysbench.leaderboard.rescore import prediction_files, read_compact, rescore_rows

    store = next((s for s in stores if s.fingerprint == board["test_fingerprint"]), None)
    if store is None:
        return []
    out: list[str] = []
    for e in entries:
        sub = board_dir / e["name"]
        for f, res in zip(results_files(sub), e["results"], strict=False):
            pf = prediction_files(f)
            if not pf.is_file():
                continue
            try:
                compact = read_compact(pf)
            except (OSError, ValueError, KeyError) as exc:
                out.append(f"{show_path(pf)}: cannot read the predictions: {exc}")
                continue
            out += rescore_rows(res, compact, store, show_path(f))
    return out


def check_leaderboards(
    root: str | Path | None = None, write: bool = False, stores: Sequence[Any] = ()
) -> list[str]:
    """Validate every board under ``root`` (default :func:`default_root`).

    Checks, per submission: the ``meta.json`` fields, the results' schema, variant and
    fingerprint against the board, the full test split, aggregates recomputed from the rows,
    the seeds count, file size caps; per board: unique entry and method names, and a
    ``README.md`` identical to the regenerated one (``write=True`` rewrites it instead).
    Submission folders outside any board are reported too. Entries with committed compact
    predictions are re-scored with the store of ``stores`` that has their board's test
    fingerprint (:mod:`crysbench.leaderboard.rescore`).

    Returns
    -------
    list of str
        Problems, one line each; empty when everything is valid.
    """
    root = Path(root) if root is not None else default_root()
    if not root.is_dir():
        return [f"{show_path(root)}: no such leaderboards folder"]
    problems: list[str] = []
    boards = find_boards(root)
    for meta in sorted(root.rglob("meta.json")):
        if is_hidden(meta, root):
            continue
        if not any(meta.is_relative_to(b) for b in boards):
            problems.append(f"{show_path(meta.parent)}: submission outside a board (no board.json)")
    for b in boards:
        problems += check_board(b, write=write, stores=stores)
    return problems
