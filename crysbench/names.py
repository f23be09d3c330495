"""Example ids and entry names that become file names: one validator for all. (pure)

Ids are written into paths by ``export``, the baselines' ``predict`` commands and the
evaluator's prediction folders (``<folder>/<id>.npy``). An id from a hostile store or
file must never reach outside its folder, so every such path goes through
:func:`safe_id` or :func:`id_path`.

Examples
--------
>>> safe_id("3JQH_1.pd_1")
'3JQH_1.pd_1'
>>> is_safe_id("../../etc/passwd"), is_safe_id("a/b"), is_safe_id(".hidden")
(False, False, False)
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["SAFE_ID", "is_safe_id", "safe_id", "id_path"]

#: Letters, digits, ``.``, ``_``, ``-``; starts with a letter or digit; at most 128.
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def is_safe_id(name: object) -> bool:
    """True when ``name`` can be used as one file name component on every platform."""
    return isinstance(name, str) and bool(SAFE_ID.match(name))


def safe_id(name: object, what: str = "example id") -> str:
    """``name`` itself when it is a safe file name, else :class:`ValueError` saying why."""
    if not is_safe_id(name):
        raise ValueError(
            f"{what} {name!r} is not a safe file name: use letters, digits, '.', '_', '-' "
            "(at most 128, starting with a letter or digit)"
        )
    return str(name)


def id_path(folder: str | Path, name: object, suffix: str = "") -> Path:
    """``folder / (name + suffix)`` after :func:`safe_id`; never outside ``folder``."""
    return Path(folder) / f"{safe_id(name)}{suffix}"
