"""Refinement engines behind the evaluator's refinement rate (SPEC §6).

An engine turns a predicted map's phases plus the true amplitudes into refined phases and
says whether the example counts as solved. Engines:

``builtin``
    Open density modification (:mod:`crysbench.refine.builtin`), calibrated success rule.
``shelxe``
    Drives a real SHELXE binary on PATH (:mod:`crysbench.refine.shelxe`), paper settings.
``none``
    No refinement; ``refined`` is None.

Every engine has ``name``, ``version``, ``settings`` (JSON dict) and
``refine(example, F_pred) -> dict`` with at least ``refined`` (bool or None when the engine
could not run) and engine-specific raw values so success rules can be re-applied later.

Examples
--------
>>> from crysbench.refine import get_engine
>>> get_engine("none").refine(None, None)
{'refined': None}
>>> get_engine("builtin").name
'builtin'
"""

from __future__ import annotations

from typing import Any

__all__ = ["ENGINES", "NoneEngine", "get_engine"]


class NoneEngine:
    """No refinement: every row gets ``refined = None``."""

    name = "none"
    version = 1
    settings: dict = {}

    def refine(self, example: Any, F_pred: Any) -> dict:
        """Return ``{"refined": None}``."""
        return {"refined": None}


ENGINES = ("builtin", "shelxe", "none")


def get_engine(name: str, **settings: Any):
    """An engine by name (``builtin``, ``shelxe`` or ``none``), with optional settings.

    Raises
    ------
    ValueError
        Unknown engine name.
    """
    if name == "none":
        return NoneEngine()
    if name == "builtin":
        from crysbench.refine.builtin import BuiltinEngine

        return BuiltinEngine(**settings)
    if name == "shelxe":
        from crysbench.refine.shelxe import ShelxeEngine

        return ShelxeEngine(**settings)
    raise ValueError(f"unknown refinement engine {name!r}; choose from {', '.join(ENGINES)}")
