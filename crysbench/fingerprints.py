"""The one check of a test-split fingerprint against another (SPEC §4).

A store's test fingerprint (:func:`crysbench.splits.split_fingerprint` of its test ids and
map checksums) travels with everything made from it: the predictions' ``meta.json``, a
``results.json``, a submission's ``meta.json``, a board's ``board.json``. Wherever two of
them meet, :func:`fingerprint_mismatch` compares them and words the problem; the store
(recomputed fingerprint), the evaluator (predictions vs store), ``crysbench verify`` and
the leaderboard checks (results and meta vs board, meta vs store) all call it and raise
their own error with its message, which names both fingerprints and the variant the same
way everywhere.

Examples
--------
>>> fingerprint_mismatch("abc", "abc", "const-res@2", "the predictions", "the store") is None
True
>>> print(fingerprint_mismatch("abc", "def", "const-res@2", "the predictions", "the store"))
test fingerprint mismatch (const-res@2): the predictions have abc, the store has def
"""

from __future__ import annotations

from typing import Any

__all__ = ["fingerprint_mismatch"]


def _has(what: str) -> str:
    """``have`` after a plural subject ("the predictions"), ``has`` otherwise."""
    return "have" if what.rstrip().endswith(("predictions", "results", "checksums")) else "has"


def fingerprint_mismatch(
    found: Any,
    expected: Any,
    variant: str | None,
    found_in: str,
    expected_in: str,
    hint: str = "",
) -> str | None:
    """The problem when ``found`` is not ``expected``, or None when they agree.

    Parameters
    ----------
    found, expected : str or None
        The two fingerprints; when either is None (not recorded) there is nothing to
        compare and the result is None.
    variant : str or None
        ``"name@version"`` the fingerprints belong to, named in the message.
    found_in, expected_in : str
        Where each fingerprint comes from, e.g. ``"the predictions' meta.json"`` and
        ``"the store"``.
    hint : str, optional
        What to do about it, appended after a semicolon.

    Returns
    -------
    str or None
        One line naming the variant and both fingerprints.

    Examples
    --------
    >>> fingerprint_mismatch(None, "def", "v@1", "a", "b") is None
    True
    >>> fingerprint_mismatch("x", "y", "v@1", "meta.json", "the board", hint="rescore")
    'test fingerprint mismatch (v@1): meta.json has x, the board has y; rescore'
    """
    if found is None or expected is None or str(found) == str(expected):
        return None
    line = (
        f"test fingerprint mismatch ({variant or 'unknown variant'}): "
        f"{found_in} {_has(found_in)} {found}, {expected_in} {_has(expected_in)} {expected}"
    )
    return f"{line}; {hint}" if hint else line
