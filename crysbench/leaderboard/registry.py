"""The board registry: board folders, their frozen ``board.json``, finding a board. (io)

Layout (one board per variant version and test split)::

    leaderboards/
      README.md                  how to submit, the rules
      <variant>/<version>/       a board, e.g. const-res/1/
        board.json               {"variant", "test_fingerprint", "n_test", "test_ids_sha256",
                                  "store", "rank_by"} — frozen by create_board
        README.md                the table, generated: never edited by hand
        <name>/                  one submission (see crysbench.leaderboard.submission)

Examples
--------
>>> import tempfile
>>> find_boards(tempfile.mkdtemp())
[]
"""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = [
    "LeaderboardError",
    "RANK_METRICS",
    "default_root",
    "show_path",
    "find_boards",
    "entry_dirs",
    "count_entries",
    "load_board",
    "find_board",
]

#: Metrics a board can rank by → (aggregate key, lower is better).
RANK_METRICS: dict[str, tuple[str, bool]] = {
    "phase_error": ("phase_error", True),
    "pearson": ("pearson", False),
}


class LeaderboardError(ValueError):
    """A submission or board that cannot be written or read; the message says why."""


def default_root() -> Path:
    """The repository's ``leaderboards/``: ``./leaderboards`` if present, else the one next
    to the package source (editable installs), else ``./leaderboards``."""
    here = Path.cwd() / "leaderboards"
    if here.is_dir():
        return here
    repo = Path(__file__).resolve().parents[2] / "leaderboards"
    return repo if repo.is_dir() else here


def show_path(path: str | Path) -> str:
    """A path for messages: relative to the working directory when inside it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # other drive (Windows)
        return str(path)
    return str(path) if rel.startswith("..") else rel


def find_boards(root: str | Path) -> list[Path]:
    """Board folders (holding ``board.json``) under ``root``, sorted."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p.parent for p in root.rglob("board.json") if not is_hidden(p, root))


def is_hidden(path: Path, root: Path) -> bool:
    """True for paths under a dot-folder below ``root`` (e.g. a submit staging folder)."""
    return any(s.startswith(".") for s in path.relative_to(root).parts)


def load_board(board_dir: str | Path) -> dict:
    """Parsed and checked ``board.json``.

    Raises
    ------
    LeaderboardError
        Missing or invalid file.
    """
    path = Path(board_dir) / "board.json"
    try:
        board = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LeaderboardError(f"{show_path(path)}: cannot read board: {exc}") from None
    if not isinstance(board, dict):
        raise LeaderboardError(f"{show_path(path)}: must hold a JSON object")
    for key in ("variant", "test_fingerprint"):
        if not isinstance(board.get(key), str) or not board[key]:
            raise LeaderboardError(f"{show_path(path)}: missing {key!r}")
    rank_by = board.get("rank_by", "phase_error")
    if rank_by not in RANK_METRICS:
        raise LeaderboardError(
            f"{show_path(path)}: rank_by {rank_by!r}; use one of {', '.join(RANK_METRICS)}"
        )
    try:
        from crysbench.variants import get_variant

        get_variant(board["variant"])
    except (KeyError, ValueError) as exc:
        msg = exc.args[0] if exc.args else exc
        raise LeaderboardError(f"{show_path(path)}: {msg}") from None
    return board


def entry_dirs(board_dir: Path) -> list[Path]:
    """Entry folders of a board: its sub-folders not starting with ``.`` or ``_``."""
    return sorted(
        p for p in board_dir.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
    )


def count_entries(board_dir: str | Path) -> int:
    """Number of entry folders of a board (valid or not)."""
    return len(entry_dirs(Path(board_dir)))


def find_board(root: str | Path | None, fingerprint: str, variant: str | None = None) -> Path:
    """The board whose test fingerprint is ``fingerprint``.

    Raises
    ------
    LeaderboardError
        No such board (the message lists the boards of that variant), or several.
    """
    root = Path(root) if root is not None else default_root()
    found, same_variant = [], []
    for b in find_boards(root):
        try:
            board = load_board(b)
        except LeaderboardError:
            continue
        if board["test_fingerprint"] == fingerprint:
            found.append(b)
        elif variant is not None and board["variant"] == variant:
            same_variant.append(f"{show_path(b)} ({board['test_fingerprint'][:12]}…)")
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise LeaderboardError(
            f"several boards have fingerprint {fingerprint}: {', '.join(map(show_path, found))}"
        )
    hint = (
        f"; boards for {variant}: {', '.join(same_variant)} — rebuild the store the board was "
        "made from (`crysbench build --variant ...`)"
        if same_variant
        else f"; create one with `crysbench leaderboard new STORE --root {show_path(root)}`"
    )
    raise LeaderboardError(
        f"no board under {show_path(root)} has test fingerprint {fingerprint}{hint}"
    )
