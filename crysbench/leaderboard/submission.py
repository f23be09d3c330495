"""One leaderboard submission folder and its checks (SPEC §8). (io)

A submission is a folder ``<board>/<name>/`` holding

- ``results.json`` — written by the evaluator (:func:`crysbench.evaluate`), never
  typed in; with several seeds, ``results.json`` is seed 1 and ``results-seed2.json``,
  ``results-seed3.json``, … the others;
- ``meta.json`` — who and what (:mod:`crysbench.leaderboard.meta`: the fields of
  :data:`META_FIELDS`, including the test-split ``store_fingerprint`` the results were
  scored on);
- optionally code (``*.py``, ``*.ipynb``), a ``README.md``, a config — each file at most
  :data:`MAX_FILE_BYTES`.

:func:`check_submission` returns every problem as one line naming the file, in the style of
Matbench's CI submission test: required fields, fingerprint and variant match the board,
the full test split is scored, the aggregates are recomputed from the per-example rows
(relative tolerance :data:`TOLERANCE`), every row agrees with its own shells and the seeds
are not copies of each other (:mod:`crysbench.leaderboard.consistency`), and file sizes
are capped.

Examples
--------
>>> ids_digest(["b", "a"]) == ids_digest(["a", "b"])
True
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from crysbench.fingerprints import fingerprint_mismatch
from crysbench.leaderboard.meta import (
    META_FIELDS,
    NAME_PATTERN,
    OPTIONAL_META_FIELDS,
    is_int,
    validate_meta,
    validate_name,
)

__all__ = [
    "META_FIELDS",
    "OPTIONAL_META_FIELDS",
    "NAME_PATTERN",
    "MAX_FILE_BYTES",
    "MAX_RESULTS_BYTES",
    "TOLERANCE",
    "results_files",
    "ids_digest",
    "validate_name",
    "validate_meta",
    "check_results",
    "check_submission",
]

#: Size cap of any file in a submission folder except the results files (Matbench: 10 MB).
MAX_FILE_BYTES = 10 * 1024 * 1024
#: Size cap of each results file.
MAX_RESULTS_BYTES = 50 * 1024 * 1024
#: Relative tolerance when comparing a stored aggregate with its recomputation.
TOLERANCE = 1e-9
_RESULTS_KEYS = (
    "schema_version", "crysbench_version", "variant", "store_fingerprint", "split",
    "engine", "settings", "shell_edges", "aggregate", "examples",
)  # fmt: skip
_SEED_FILE = re.compile(r"^results-seed(\d+)\.json$")


def results_files(sub_dir: str | Path) -> list[Path]:
    """The results files of a submission in seed order (``results.json`` first).

    Examples
    --------
    >>> results_files("/nonexistent")
    []
    """
    sub_dir = Path(sub_dir)
    if not sub_dir.is_dir():
        return []
    out = [sub_dir / "results.json"] if (sub_dir / "results.json").is_file() else []
    seeded = []
    for f in sub_dir.iterdir():
        m = _SEED_FILE.match(f.name)
        if m and f.is_file():
            seeded.append((int(m.group(1)), f))
    return out + [f for _, f in sorted(seeded)]


def ids_digest(ids: Iterable[str]) -> str:
    """SHA-256 of the sorted example ids, one per line: identifies a test split's members.

    Examples
    --------
    >>> ids_digest(["b", "a"]) == ids_digest(["a", "b"])
    True
    """
    return hashlib.sha256("\n".join(sorted(str(i) for i in ids)).encode()).hexdigest()


def _num_close(a: float, b: float) -> bool:
    return abs(a - b) <= TOLERANCE * max(1.0, abs(a), abs(b))


def _diff(stored: Any, recomputed: Any, where: str, out: list[str]) -> None:
    """Append ``where: stored vs recomputed`` lines for every mismatch."""
    if isinstance(recomputed, dict) and isinstance(stored, dict):
        for k in sorted(set(stored) | set(recomputed), key=str):
            if k not in recomputed:
                out.append(f"{where}.{k} is not an aggregate the evaluator computes")
            elif k not in stored:
                out.append(f"{where}.{k} is missing (recomputed: {recomputed[k]!r})")
            else:
                _diff(stored[k], recomputed[k], f"{where}.{k}", out)
        return
    if isinstance(recomputed, list) and isinstance(stored, list):
        if len(stored) != len(recomputed):
            out.append(f"{where} has {len(stored)} values; the rows give {len(recomputed)}")
            return
        for i, (s, r) in enumerate(zip(stored, recomputed, strict=True)):
            _diff(s, r, f"{where}[{i}]", out)
        return
    numeric = (int, float)
    if (
        isinstance(stored, numeric)
        and isinstance(recomputed, numeric)
        and not isinstance(stored, bool)
        and not isinstance(recomputed, bool)
    ):
        if _num_close(float(stored), float(recomputed)):
            return
    elif stored == recomputed and type(stored) is type(recomputed):
        return
    out.append(f"{where} = {stored!r} but the per-example rows give {recomputed!r}")


def _clean_json(x: Any) -> Any:
    """NaN/inf → None, as the evaluator writes them."""
    if isinstance(x, dict):
        return {k: _clean_json(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean_json(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def check_results(results: Any, board: dict, label: str = "results.json") -> list[str]:
    """Problems with one results object scored for ``board`` (empty list when valid).

    Parameters
    ----------
    results : dict
        Parsed ``results.json``.
    board : dict
        Parsed ``board.json``: ``variant``, ``test_fingerprint`` and optionally ``n_test``
        and ``test_ids_sha256``.
    label : str
        Prefix of every message (normally the file path).
    """
    from crysbench.results import SCHEMA_VERSION
    from crysbench.rows import aggregate

    if not isinstance(results, dict):
        return [f"{label}: must hold a JSON object (the evaluator's results)"]
    missing = [k for k in _RESULTS_KEYS if k not in results]
    if missing:
        return [f"{label}: missing field(s) {', '.join(missing)}; write it with crysbench submit"]
    p: list[str] = []
    if results["schema_version"] != SCHEMA_VERSION:
        p.append(
            f"{label}: schema_version {results['schema_version']!r}, this crysbench reads "
            f"{SCHEMA_VERSION}"
        )
    if results["variant"] != board.get("variant"):
        p.append(f"{label}: variant {results['variant']!r}, the board is {board.get('variant')!r}")
    problem = fingerprint_mismatch(
        results["store_fingerprint"], board.get("test_fingerprint"), board.get("variant"),
        f"{label}: store_fingerprint", "the board", hint="scored on another test split",
    )  # fmt: skip
    if problem is not None or results["store_fingerprint"] is None:
        p.append(problem or f"{label}: store_fingerprint is null; rescore with crysbench submit")
    if results["split"] != "test":
        p.append(f"{label}: split {results['split']!r}; boards rank the test split only")
    rows = results["examples"]
    agg = results["aggregate"]
    if not isinstance(rows, list) or not all(isinstance(r, dict) and "id" in r for r in rows):
        return p + [f"{label}: examples must be a list of per-example rows with an 'id'"]
    if not isinstance(agg, dict):
        return p + [f"{label}: aggregate must be an object"]
    ids = [str(r["id"]) for r in rows]
    dup = sorted(i for i, n in Counter(ids).items() if n > 1)
    if dup:
        p.append(f"{label}: duplicate example ids {', '.join(dup[:10])}")
    if agg.get("missing"):
        p.append(
            f"{label}: {len(agg['missing'])} test examples were not predicted; boards need "
            "the full test split (no --allow-missing)"
        )
    n_test = board.get("n_test")
    if n_test is not None and len(rows) != n_test:
        p.append(f"{label}: {len(rows)} per-example rows; the test split has {n_test}")
    digest = board.get("test_ids_sha256")
    if digest is not None and not dup and ids_digest(ids) != digest:
        p.append(f"{label}: the example ids are not this board's test split")
    for r in rows:
        pe, pc = r.get("phase_error"), r.get("pearson")
        if pe is not None and not (isinstance(pe, int | float) and 0 <= pe <= 180):
            p.append(f"{label}: example {r['id']}: phase_error {pe!r} outside 0–180°")
        if pc is not None and not (isinstance(pc, int | float) and -1 - 1e-6 <= pc <= 1 + 1e-6):
            p.append(f"{label}: example {r['id']}: pearson {pc!r} outside [-1, 1]")
    from crysbench.leaderboard.consistency import results_row_problems

    p += results_row_problems(results, label)
    try:
        recomputed = _clean_json(aggregate(rows, agg.get("missing") or []))
    except Exception as exc:  # malformed rows
        return p + [f"{label}: cannot recompute the aggregate from the rows: {exc}"]
    diffs: list[str] = []
    _diff(agg, recomputed, "aggregate", diffs)
    for d in diffs[:8]:
        p.append(f"{label}: {d} (hand-edited or stale results?)")
    if len(diffs) > 8:
        p.append(f"{label}: … and {len(diffs) - 8} more aggregate mismatches")
    return p


def _load_json(path: Path, problems: list[str], label: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{label}: cannot read: {exc}")
    except ValueError as exc:
        problems.append(f"{label}: not valid JSON: {exc}")
    return None


def check_submission(
    sub_dir: str | Path, board: dict, name: str | None = None, label: str | None = None
) -> list[str]:
    """Every problem with one submission folder, one line each (empty list when valid).

    Parameters
    ----------
    sub_dir : path
        The submission folder.
    board : dict
        Parsed ``board.json`` of the board it belongs to.
    name : str, optional
        Entry name (default: the folder name).
    label : str, optional
        How to name the folder in messages (default: its path).
    """
    sub_dir = Path(sub_dir)
    name = sub_dir.name if name is None else name
    label = str(sub_dir) if label is None else label
    problems: list[str] = []
    why = validate_name(name)
    if why:
        problems.append(f"{label}: {why}")
    for f in sorted(sub_dir.rglob("*")):
        rel = f.relative_to(sub_dir).as_posix()
        if f.is_symlink():
            problems.append(f"{label}/{rel}: symbolic links are not allowed")
            continue
        if not f.is_file():
            continue
        cap = MAX_RESULTS_BYTES if f in results_files(sub_dir) else MAX_FILE_BYTES
        size = f.stat().st_size
        if size > cap:
            problems.append(
                f"{label}/{rel}: {size / 2**20:.1f} MB exceeds the {cap / 2**20:.0f} MB cap "
                "(predicted maps do not belong in the repository)"
            )
    meta_path = sub_dir / "meta.json"
    meta = None
    if not meta_path.is_file():
        problems.append(f"{label}/meta.json: missing (method, authors, code link, …)")
    else:
        meta = _load_json(meta_path, problems, f"{label}/meta.json")
        if meta is not None:
            problems += [f"{label}/meta.json: {m}" for m in validate_meta(meta, sub_dir)]
    files = results_files(sub_dir)
    if not files:
        problems.append(f"{label}/results.json: missing (write it with crysbench submit)")
        return problems
    if files[0].name != "results.json":
        problems.append(f"{label}/results.json: missing (seed files need a results.json first)")
    loaded, names = [], []
    for f in files:
        flabel = f"{label}/{f.name}"
        res = _load_json(f, problems, flabel)
        if res is not None:
            problems += check_results(res, board, flabel)
            loaded.append(res)
            names.append(f.name)
    from crysbench.leaderboard.consistency import seed_copies

    problems += seed_copies(loaded, names, label)
    if isinstance(meta, dict):
        seeds = meta.get("seeds")
        if is_int(seeds) and seeds != len(files):
            problems.append(
                f"{label}/meta.json: seeds is {seeds} but there are {len(files)} results files "
                "(results.json, results-seed2.json, …): submit every seed you ran"
            )
        fp = meta.get("store_fingerprint")
        problem = fingerprint_mismatch(
            fp if isinstance(fp, str) else None, board.get("test_fingerprint"),
            board.get("variant"), f"{label}/meta.json: store_fingerprint", "the board",
        )  # fmt: skip
        if problem is not None:
            problems.append(problem)
    keys = {
        (json.dumps(r.get("engine")), json.dumps(r.get("settings"), sort_keys=True))
        for r in loaded
        if isinstance(r, dict)
    }
    if len(keys) > 1:
        problems.append(f"{label}: the seeds were scored with different engines or settings")
    return problems
