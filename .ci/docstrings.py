"""numpydoc validation of the public API: every name in ``crysbench.__all__``.

Classes are checked with their public methods and properties; the checks are
``[tool.numpydoc_validation] checks`` of pyproject.toml (``"all"`` minus a few, each
justified there), and objects matching its ``exclude`` patterns are skipped. Exit 1
listing every problem as ``object: CODE message``.
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

from numpydoc.hooks.validate_docstrings import parse_config
from numpydoc.validate import get_validation_checks, validate

import crysbench


def public_objects() -> list[str]:
    """Import paths of the exported functions and classes, and the classes' public members."""
    out = []
    for name in crysbench.__all__:
        obj = getattr(crysbench, name)
        if inspect.ismodule(obj) or not (inspect.isclass(obj) or callable(obj)):
            continue
        mod = obj.__module__
        out.append(f"{mod}.{obj.__qualname__}")
        if inspect.isclass(obj) and not issubclass(obj, BaseException):
            for attr in dir(obj):
                owner = next((c for c in obj.__mro__ if attr in vars(c)), None)
                if attr.startswith("_") or not owner.__module__.startswith("crysbench"):
                    continue
                member = vars(owner)[attr]
                if inspect.isfunction(member) or isinstance(member, property):
                    out.append(f"{mod}.{obj.__qualname__}.{attr}")
    return sorted(set(out))


def main() -> int:
    config = parse_config(Path(__file__).resolve().parents[1])
    checks = get_validation_checks(set(config["checks"]))
    exclude = config.get("exclude") or []  # numpydoc compiles the list into one pattern
    exclude = [exclude] if isinstance(exclude, re.Pattern) else [re.compile(x) for x in exclude]
    problems = []
    for path in public_objects():
        if any(x.search(path) for x in exclude):
            continue
        for code, message in validate(path)["errors"]:
            if code in checks:
                problems.append(f"{path}: {code} {message}")
    print("\n".join(problems) if problems else f"numpydoc: {len(public_objects())} objects ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
