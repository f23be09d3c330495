"""One leaderboard submission folder: its ``meta.json`` schema and its checks (SPEC §8). (io)

A submission is a folder ``<board>/<name>/`` holding

- ``results.json`` — written by the evaluator (:func:`crysbench.evaluate.evaluate`), never
  typed in; with several seeds, ``results.json`` is seed 1 and ``results-seed2.json``,
  ``results-seed3.json``, … the others;
- ``meta.json`` — who and what: the fields of :data:`META_FIELDS`, including the test-split
  ``store_fingerprint`` the results were scored on;
- optionally code (``*.py``, ``*.ipynb``), a ``README.md``, a config — each file at most
  :data:`MAX_FILE_BYTES`.

:func:`check_submission` returns every problem as one line naming the file, in the style of
Matbench's CI submission test: required fields, fingerprint and variant match the board,
the full test split is scored, the aggregates are recomputed from the per-example rows
(relative tolerance :data:`TOLERANCE`), and file sizes are capped.

Examples
--------
>>> problems = validate_meta({"method": "x"})
>>> problems[0]
"missing required field 'authors' (list of names)"
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

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
    "meta_template",
    "write_meta_template",
]

#: Required ``meta.json`` fields → description (shown in error messages).
META_FIELDS: dict[str, str] = {
    "method": "method name shown in the table",
    "authors": "list of names",
    "code": "https:// link to the code (ideally pinned to a commit), or a file in the folder",
    "paper": "https:// link to the paper, or null",
    "parameters": "number of trainable parameters, an integer (0 if nothing is trained)",
    "hardware": "what it was trained and run on, e.g. '1x A100 40GB'",
    "training_time": "wall-clock training time, e.g. '12 h', or 'none'",
    "training_data": "what it was trained on, e.g. 'const-res@1 train split (bundled demo)'",
    "extra_data": "true if any data beyond this variant's train/valid splits was used",
    "seeds": "number of training seeds submitted (one results file each)",
    "date": "submission date, YYYY-MM-DD",
    "store_fingerprint": "test-split fingerprint the results were scored on (filled by submit)",
}
#: Optional ``meta.json`` fields → description.
OPTIONAL_META_FIELDS: dict[str, str] = {
    "description": "one or two sentences on the method",
    "notes": "anything a reader should know (e.g. how the test set relates to training)",
    "contact": "e-mail or handle",
    "commit": "commit of the code that made the predictions",
    "tags": "list of short labels",
}
#: Entry folder names: lowercase letters, digits, '.', '_', '-'; at most 64 characters.
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
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
_URL = re.compile(r"^https?://\S+$")


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


def validate_name(name: str) -> str | None:
    """None when ``name`` is a valid entry name, else the reason.

    Examples
    --------
    >>> validate_name("reccrysformer-demo") is None
    True
    >>> validate_name("My Model")
    "invalid entry name 'My Model': use lowercase letters, digits, '.', '_', '-' (<= 64)"
    """
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        return f"invalid entry name {name!r}: use lowercase letters, digits, '.', '_', '-' (<= 64)"
    return None


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _nonempty_str(x: Any) -> bool:
    return isinstance(x, str) and bool(x.strip())


def validate_meta(meta: Any, folder: str | Path | None = None) -> list[str]:
    """Problems with a ``meta.json`` object (empty list when valid).

    Parameters
    ----------
    meta : dict
        Parsed ``meta.json``.
    folder : path, optional
        The submission folder; lets ``code`` name a file in it.

    Returns
    -------
    list of str
        One line per problem: missing field, wrong type, unknown field.
    """
    if not isinstance(meta, dict):
        return ["meta.json must hold a JSON object"]
    problems = [
        f"missing required field {k!r} ({desc})" for k, desc in META_FIELDS.items() if k not in meta
    ]
    known = set(META_FIELDS) | set(OPTIONAL_META_FIELDS)
    for k in sorted(set(meta) - known):
        problems.append(f"unknown field {k!r} (known: {', '.join(sorted(known))})")

    def bad(key: str, why: str) -> None:
        problems.append(f"field {key!r} {why}; got {meta[key]!r}")

    for key in ("method", "hardware", "training_time", "training_data"):
        if key in meta and not _nonempty_str(meta[key]):
            bad(key, "must be a non-empty string")
    if "authors" in meta:
        a = meta["authors"]
        if not (isinstance(a, list) and a and all(_nonempty_str(x) for x in a)):
            bad("authors", "must be a non-empty list of names")
    if "code" in meta:
        code = meta["code"]
        in_folder = (
            folder is not None
            and isinstance(code, str)
            and not code.startswith(("/", ".."))
            and (Path(folder) / code).is_file()
        )
        if not (isinstance(code, str) and (_URL.match(code) or in_folder)):
            bad("code", "must be an http(s) link to the code, or a file in the submission folder")
    if "paper" in meta and meta["paper"] is not None:
        if not (isinstance(meta["paper"], str) and _URL.match(meta["paper"])):
            bad("paper", "must be an http(s) link or null")
    if "parameters" in meta and not (_is_int(meta["parameters"]) and meta["parameters"] >= 0):
        bad("parameters", "must be an integer >= 0")
    if "extra_data" in meta and not isinstance(meta["extra_data"], bool):
        bad("extra_data", "must be true or false")
    if "seeds" in meta and not (_is_int(meta["seeds"]) and meta["seeds"] >= 1):
        bad("seeds", "must be an integer >= 1")
    if "date" in meta:
        try:
            _dt.date.fromisoformat(str(meta["date"]))
            ok = isinstance(meta["date"], str) and len(meta["date"]) == 10
        except ValueError:
            ok = False
        if not ok:
            bad("date", "must be a date YYYY-MM-DD")
    if "store_fingerprint" in meta and not _nonempty_str(meta["store_fingerprint"]):
        bad("store_fingerprint", "must be the test fingerprint string")
    if "tags" in meta and not (
        isinstance(meta["tags"], list) and all(isinstance(t, str) for t in meta["tags"])
    ):
        bad("tags", "must be a list of strings")
    for key in ("description", "notes", "contact", "commit"):
        if key in meta and not isinstance(meta[key], str):
            bad(key, "must be a string")
    return problems


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
    from crysbench.evaluate import SCHEMA_VERSION, aggregate

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
    if results["store_fingerprint"] != board.get("test_fingerprint"):
        p.append(
            f"{label}: store_fingerprint {results['store_fingerprint']!r} does not match the "
            f"board's test fingerprint {board.get('test_fingerprint')!r} (scored on another "
            "test split)"
        )
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
    loaded = []
    for f in files:
        flabel = f"{label}/{f.name}"
        res = _load_json(f, problems, flabel)
        if res is not None:
            problems += check_results(res, board, flabel)
            loaded.append(res)
    if isinstance(meta, dict):
        seeds = meta.get("seeds")
        if _is_int(seeds) and seeds != len(files):
            problems.append(
                f"{label}/meta.json: seeds is {seeds} but there are {len(files)} results files "
                "(results.json, results-seed2.json, …): submit every seed you ran"
            )
        fp = meta.get("store_fingerprint")
        if isinstance(fp, str) and fp != board.get("test_fingerprint"):
            problems.append(
                f"{label}/meta.json: store_fingerprint {fp!r} does not match the board's test "
                f"fingerprint {board.get('test_fingerprint')!r}"
            )
    keys = {
        (json.dumps(r.get("engine")), json.dumps(r.get("settings"), sort_keys=True))
        for r in loaded
        if isinstance(r, dict)
    }
    if len(keys) > 1:
        problems.append(f"{label}: the seeds were scored with different engines or settings")
    return problems


def meta_template(method: str = "my-model") -> dict:
    """A ``meta.json`` to fill in: every field a submitter writes, with placeholder values.

    The placeholders are valid values (so a first ``crysbench submit`` goes through);
    replace every one before opening a pull request. ``seeds``, ``date`` and
    ``store_fingerprint`` are left out: ``crysbench submit`` fills them in.

    Examples
    --------
    >>> t = meta_template("my-model")
    >>> validate_meta({**t, "seeds": 1, "date": "2026-01-01", "store_fingerprint": "x"})
    []
    """
    return {
        "method": method,
        "authors": ["Your Name"],
        "code": "https://github.com/you/my-model/tree/COMMIT",
        "paper": None,
        "parameters": 0,
        "hardware": "1x CPU (replace: what it was trained and run on)",
        "training_time": "none (replace, e.g. '9 h')",
        "training_data": "const-res@1 train+valid splits (replace: what it was trained on)",
        "extra_data": False,
        "description": "TEMPLATE written by crysbench submit --meta-template: replace every value",
    }


def write_meta_template(
    path: str | Path, method: str = "my-model", overwrite: bool = False
) -> Path:
    """Write :func:`meta_template` as JSON to ``path`` (refuses to overwrite a file).

    Raises
    ------
    FileExistsError
        ``path`` exists and ``overwrite`` is false.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; not overwriting it")
    path.write_text(json.dumps(meta_template(method), indent=2) + "\n", encoding="utf-8")
    return path
