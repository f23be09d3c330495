"""Freezing a new, empty board for a store's test split. (io)

Above :mod:`~crysbench.leaderboard.registry` (board folders) and
:mod:`~crysbench.leaderboard.check` (the generated table), so that imports run one way:
``create → check → render → registry``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from crysbench.leaderboard.check import render_board
from crysbench.leaderboard.registry import (
    RANK_METRICS,
    LeaderboardError,
    default_root,
    show_path,
)
from crysbench.leaderboard.submission import ids_digest

__all__ = ["create_board"]


def create_board(
    store: Any,
    root: str | Path | None = None,
    path: str | Path | None = None,
    label: str = "bundled demo",
    rank_by: str = "phase_error",
) -> Path:
    """Freeze a new, empty board for a store's test split.

    Parameters
    ----------
    store : Store or path
        The store whose test split the board ranks.
    root : path, optional
        Leaderboards folder (default :func:`default_root`).
    path : path, optional
        Board folder (default ``<root>/<variant>/<version>``).
    label : str
        What the store is, shown on the board (e.g. ``"bundled demo"``, ``"rcsb"``).
    rank_by : str
        ``"phase_error"`` (lower is better) or ``"pearson"``.

    Returns
    -------
    Path
        The board folder, with ``board.json`` and its generated ``README.md``.
    """
    from crysbench.store import open_store

    if rank_by not in RANK_METRICS:
        raise LeaderboardError(f"rank_by {rank_by!r}; use one of {', '.join(RANK_METRICS)}")
    if isinstance(store, str | Path):
        store = open_store(str(store))
    name, version = str(store.variant).split("@")
    board_dir = Path(path) if path else Path(root or default_root()) / name / version
    if (board_dir / "board.json").exists():
        raise LeaderboardError(f"{show_path(board_dir)} already has a board.json")
    ids = list(store.ids("test"))
    try:  # PDB entries of the test split, shown on the board
        pdb = sorted({str(x) for x in store.meta["pdb_id"][store.positions("test")]})
    except (AttributeError, KeyError, TypeError):
        pdb = None
    board = {
        "variant": str(store.variant),
        "test_fingerprint": str(store.fingerprint),
        "n_test": len(ids),
        "test_ids_sha256": ids_digest(ids),
        "store": label,
        "rank_by": rank_by,
    }
    if pdb is not None:
        board["test_entries"] = pdb
    board_dir.mkdir(parents=True, exist_ok=True)
    (board_dir / "board.json").write_text(json.dumps(board, indent=2) + "\n")
    (board_dir / "README.md").write_text(render_board(board_dir))
    return board_dir
