"""The submit workflow: score predictions, pre-check, write the entry, regenerate. (io)

:func:`submit` scores prediction sets (one per seed) on a store's test split with the
evaluator, finds the board whose test fingerprint is the store's, and hands the results to
:func:`write_submission`, which validates and writes ``<board>/<name>/`` (``results.json``
[``results-seed2.json`` …], ``meta.json``, extra files) through a staging folder and
regenerates the board's table. Nothing is written when any check fails.
"""

from __future__ import annotations

import datetime as _dt
import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from crysbench.fingerprints import fingerprint_mismatch
from crysbench.leaderboard.check import check_board
from crysbench.leaderboard.meta import validate_meta, validate_name
from crysbench.leaderboard.registry import (
    LeaderboardError,
    entry_dirs,
    find_board,
    load_board,
    show_path,
)
from crysbench.leaderboard.submission import check_submission

__all__ = ["write_submission", "submit"]


def _read_meta(meta: str | Path | Mapping[str, Any]) -> dict:
    if isinstance(meta, Mapping):
        return dict(meta)
    path = Path(meta)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LeaderboardError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise LeaderboardError(f"{path} must hold a JSON object")
    return data


def _method_taken(board_dir: Path, method: str, skip: str) -> str | None:
    key = " ".join(method.lower().split())
    for sub in entry_dirs(board_dir):
        if sub.name == skip or not (sub / "meta.json").is_file():
            continue
        try:
            other = json.loads((sub / "meta.json").read_text(encoding="utf-8")).get("method")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(other, str) and " ".join(other.lower().split()) == key:
            return sub.name
    return None


def _prepare(
    board_dir: Path,
    name: str,
    meta: dict,
    n_seeds: int,
    fingerprint: str,
    overwrite: bool,
    variant: str | None = None,
) -> dict:
    """Fill and pre-check everything that does not need the scores."""
    why = validate_name(name)
    if why:
        raise LeaderboardError(why)
    dest = board_dir / name
    if dest.exists() and not overwrite:
        raise LeaderboardError(
            f"entry {name!r} already exists in {show_path(board_dir)}: choose another --name "
            "(or --overwrite to replace your own entry)"
        )
    meta = dict(meta)
    meta.setdefault("date", _dt.date.today().isoformat())
    meta.setdefault("seeds", n_seeds)
    problem = fingerprint_mismatch(
        meta.get("store_fingerprint"), fingerprint, variant, "meta.json store_fingerprint",
        "the store",
    )  # fmt: skip
    if problem is not None:
        raise LeaderboardError(problem)
    meta["store_fingerprint"] = fingerprint
    if meta["seeds"] != n_seeds:
        raise LeaderboardError(
            f"meta.json says seeds={meta['seeds']!r} but {n_seeds} prediction set(s) were "
            "given: submit one per seed"
        )
    problems = [
        m
        for m in validate_meta(meta)
        if not (m.startswith("field 'code'") and isinstance(meta.get("code"), str))
    ]
    if problems:
        raise LeaderboardError("invalid meta.json:\n  " + "\n  ".join(problems))
    taken = _method_taken(board_dir, str(meta["method"]), skip=name)
    if taken:
        raise LeaderboardError(
            f"method {meta['method']!r} already has an entry in {show_path(board_dir)} ({taken}); "
            "one entry per method"
        )
    return meta


def write_submission(
    board_dir: str | Path,
    name: str,
    results: Sequence[Mapping[str, Any]],
    meta: str | Path | Mapping[str, Any],
    files: Sequence[str | Path] = (),
    overwrite: bool = False,
) -> Path:
    """Validate and write a submission folder from results already computed; regenerate
    the board's table.

    Parameters
    ----------
    board_dir : path
        The board (holding ``board.json``).
    name : str
        Entry folder name (lowercase letters, digits, ``.``, ``_``, ``-``).
    results : sequence of dict
        The evaluator's results, one per seed (first → ``results.json``).
    meta : dict or path
        ``meta.json`` fields; ``store_fingerprint``, ``date`` (today) and ``seeds`` are
        filled in when absent.
    files : sequence of paths
        Extra files copied into the folder (code, config, README).
    overwrite : bool
        Replace an existing entry of the same name.

    Returns
    -------
    Path
        The submission folder.

    Raises
    ------
    LeaderboardError
        With every problem found (nothing is written then).
    """
    from crysbench.results import write_results

    board_dir = Path(board_dir)
    board = load_board(board_dir)
    if not results:
        raise LeaderboardError("no results to submit")
    meta = _prepare(
        board_dir, name, _read_meta(meta), len(results), board["test_fingerprint"], overwrite,
        board.get("variant"),
    )  # fmt: skip
    stage = board_dir / f".{name}.staging"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    try:
        for f in map(Path, files):
            if not f.is_file():
                raise LeaderboardError(f"cannot copy {f}: not a file")
            if f.name == "meta.json" or f.name.startswith("results"):
                raise LeaderboardError(f"cannot copy {f}: {f.name} is written by submit")
            shutil.copy2(f, stage / f.name)
        for i, r in enumerate(results):
            r = dict(r)
            if isinstance(r.get("predictions"), str):  # no local paths in the repository
                r["predictions"] = Path(r["predictions"]).name
            write_results(r, stage / ("results.json" if i == 0 else f"results-seed{i + 1}.json"))
        (stage / "meta.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
        problems = check_submission(stage, board, name=name, label=name)
        if problems:
            raise LeaderboardError("invalid submission:\n  " + "\n  ".join(problems))
        dest = board_dir / name
        if dest.exists():
            shutil.rmtree(dest)
        stage.rename(dest)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    check_board(board_dir, write=True)
    return dest


def submit(
    predictions: str | Path | Mapping[str, Any] | Sequence[str | Path | Mapping[str, Any]],
    store: Any,
    name: str,
    meta: str | Path | Mapping[str, Any],
    root: str | Path | None = None,
    board: str | Path | None = None,
    engine: str = "builtin",
    files: Sequence[str | Path] = (),
    overwrite: bool = False,
    origin_search: bool = False,
    hand_search: bool = False,
    n_jobs: int = 1,
    progress: bool = True,
    compact_predictions: bool = False,
) -> Path:
    """Score predictions on a store's test split and write them as a board entry.

    Parameters
    ----------
    predictions : path, mapping, or a list of them
        One prediction set per training seed (see :func:`crysbench.load_predictions`).
    store : Store or path
        The store the predictions were made for.
    name : str
        Entry folder name.
    meta : dict or path
        ``meta.json`` fields (see :data:`crysbench.leaderboard.submission.META_FIELDS`).
    root : path, optional
        Leaderboards folder (default :func:`default_root`); the board is the one whose test
        fingerprint is the store's.
    board : path, optional
        The board folder, instead of looking it up under ``root``.
    engine : str
        Refinement engine for the refinement rate (``builtin``, ``shelxe``, ``none``).
    files : sequence of paths
        Extra files to include (code, config, README).
    overwrite : bool
        Replace an existing entry of the same name.
    origin_search, hand_search : bool
        Align origin / hand before the phase errors (reported on the board).
    n_jobs : int
        Evaluator worker processes.
    progress : bool
        Progress bar on stderr.
    compact_predictions : bool
        Also commit ``predictions.npz`` per seed (float16 structure factors to dmin, see
        :mod:`crysbench.leaderboard.rescore`), so CI can re-score the entry.

    Returns
    -------
    Path
        The submission folder (the board's table is regenerated).

    Raises
    ------
    LeaderboardError, crysbench.EvaluationError
        Invalid meta, name taken, no matching board, invalid predictions.
    """
    from crysbench.evaluator import evaluate
    from crysbench.store import open_store

    if isinstance(store, str | Path):
        store = open_store(str(store))
    sets = (
        list(predictions)
        if isinstance(predictions, list | tuple)
        else [predictions]  # a single path or mapping
    )
    board_dir = Path(board) if board else find_board(root, store.fingerprint, store.variant)
    b = load_board(board_dir)
    problem = fingerprint_mismatch(
        store.fingerprint, b["test_fingerprint"], store.variant, "the store",
        f"the board {show_path(board_dir)}",
    )  # fmt: skip
    if problem is not None:
        raise LeaderboardError(problem)
    meta = _prepare(
        board_dir, name, _read_meta(meta), len(sets), store.fingerprint, overwrite, store.variant
    )
    results = [
        evaluate(
            p,
            store,
            split="test",
            engine=engine,
            allow_missing=False,
            origin_search=origin_search,
            hand_search=hand_search,
            n_jobs=n_jobs,
            progress=progress,
        )  # fmt: skip
        for p in sets
    ]
    if not compact_predictions:
        return write_submission(board_dir, name, results, meta, files=files, overwrite=overwrite)
    import tempfile

    from crysbench.leaderboard.rescore import compact_from_maps, write_compact
    from crysbench.predictions import load_predictions

    with tempfile.TemporaryDirectory() as tmp:
        extra = list(files)
        for i, p in enumerate(sets):
            ids = [str(r["id"]) for r in results[i]["examples"]]
            fname = "predictions.npz" if i == 0 else f"predictions-seed{i + 1}.npz"
            preds = p if isinstance(p, Mapping) else load_predictions(p)
            extra.append(write_compact(Path(tmp) / fname, compact_from_maps(preds, store, ids)))
        return write_submission(board_dir, name, results, meta, files=extra, overwrite=overwrite)
