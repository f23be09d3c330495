"""Leaderboards: boards of submission folders, their checks and tables (SPEC §8).

One board per variant version and test split (``leaderboards/<variant>/<version>/``,
frozen ``board.json``, generated ``README.md``, one folder per entry).
``crysbench submit`` scores predictions against a store, finds the board whose test
fingerprint is the store's, validates and writes the folder and regenerates the table;
``crysbench leaderboard check`` (run by CI) validates every submission and fails when a
committed table differs from the regenerated one, so a hand-edited number fails.

Modules
-------
registry
    Board folders, ``board.json``, :func:`find_board` by test fingerprint. (io)
meta
    An entry's ``meta.json`` fields and entry names. (pure)
submission
    Every check of an entry folder: sizes, meta, results against the board. (io)
consistency
    Row-level checks of a results file, seed copies. (pure)
rescore
    Compact predictions committed with an entry, and re-scoring them. (io)
render
    The board table as Markdown from parsed entries. (pure)
check
    Scanning a board, validating it, comparing the committed table. (io)
create
    Freezing a new, empty board for a store's test split. (io)
submit
    Scoring and writing an entry. (io)

The command-line front end is :mod:`crysbench.cli.submit` and
:mod:`crysbench.cli.leaderboard`.
"""

from crysbench.leaderboard.check import check_board, check_leaderboards, render_board, scan_board
from crysbench.leaderboard.create import create_board
from crysbench.leaderboard.meta import (
    META_FIELDS,
    OPTIONAL_META_FIELDS,
    validate_meta,
    validate_name,
)
from crysbench.leaderboard.registry import (
    RANK_METRICS,
    LeaderboardError,
    count_entries,
    default_root,
    entry_dirs,
    find_board,
    find_boards,
    load_board,
    show_path,
)
from crysbench.leaderboard.render import render
from crysbench.leaderboard.submission import (
    check_results,
    check_submission,
    ids_digest,
    results_files,
)
from crysbench.leaderboard.submit import submit, write_submission

__all__ = [
    "LeaderboardError",
    "RANK_METRICS",
    "META_FIELDS",
    "OPTIONAL_META_FIELDS",
    "default_root",
    "show_path",
    "find_boards",
    "entry_dirs",
    "count_entries",
    "load_board",
    "create_board",
    "find_board",
    "scan_board",
    "render",
    "render_board",
    "check_board",
    "check_leaderboards",
    "results_files",
    "ids_digest",
    "validate_name",
    "validate_meta",
    "check_results",
    "check_submission",
    "write_submission",
    "submit",
]
