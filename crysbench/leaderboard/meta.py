"""An entry's ``meta.json``: its fields and their checks, and entry names (SPEC §8). (pure)

``meta.json`` says who and what: the fields of :data:`META_FIELDS` (required) and
:data:`OPTIONAL_META_FIELDS`, including the test-split ``store_fingerprint`` the results
were scored on (filled in by ``crysbench submit``).

Examples
--------
>>> problems = validate_meta({"method": "x"})
>>> problems[0]
"missing required field 'authors' (list of names)"
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from pathlib import Path
from typing import Any

__all__ = [
    "META_FIELDS",
    "OPTIONAL_META_FIELDS",
    "NAME_PATTERN",
    "is_int",
    "validate_name",
    "validate_meta",
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
_URL = re.compile(r"^https?://\S+$")


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


def is_int(x: Any) -> bool:
    """True for an int that is not a bool."""
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
    if "parameters" in meta and not (is_int(meta["parameters"]) and meta["parameters"] >= 0):
        bad("parameters", "must be an integer >= 0")
    if "extra_data" in meta and not isinstance(meta["extra_data"], bool):
        bad("extra_data", "must be true or false")
    if "seeds" in meta and not (is_int(meta["seeds"]) and meta["seeds"] >= 1):
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
        "training_data": "const-res@2 train+valid splits (replace: what it was trained on)",
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
