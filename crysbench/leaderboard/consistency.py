"""Checks that a results file is internally consistent, row by row (SPEC §8). (pure)

The aggregate of a results file is recomputed from its rows by
:func:`crysbench.leaderboard.submission.check_results`; these checks go one level down, so a hand
edit must change every number the evaluator derived from the same reflections:

- each row's equal-count ``shells`` hold all of its ``n_reflections``, and its
  ``phase_error`` is their reflection-weighted mean (the same for ``*_unaligned``);
- its ``phase_error_weighted`` lies between the shells' weighted values (a weighted
  mean cannot leave their range); shared shells hold no more reflections than the row;
- every shell value is an angle in [0°, 180°];
- with the built-in engine, ``refined`` is the engine's rule on ``final_phase_error_weighted``;
- the seeds of one entry are different runs: two results files whose per-example values
  coincide exactly are copies.

Examples
--------
>>> row = {"id": "a", "n_reflections": 4, "phase_error": 15.0, "phase_error_weighted": 12.0,
...        "shells": [{"n": 2, "phase_error": 10.0, "phase_error_weighted": 9.0},
...                   {"n": 2, "phase_error": 20.0, "phase_error_weighted": 18.0}]}
>>> row_problems(row)
[]
>>> row_problems({**row, "phase_error": 5.0})[0]
'phase_error 5.0 is not the mean of its shells (15.0)'
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

__all__ = ["row_problems", "results_row_problems", "seed_copies", "TOLERANCE_DEG"]

#: Degrees a row's phase error may differ from its shells' mean (float rounding only).
TOLERANCE_DEG = 1e-6
_MAX = 8


def _num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _shell_set(row: dict, shells_key: str, pe_key: str, out: list[str]) -> None:
    shells = row.get(shells_key)
    if shells is None:
        return
    if not isinstance(shells, list) or not all(isinstance(s, dict) for s in shells):
        out.append(f"{shells_key} must be a list of shells")
        return
    ns, pes, wpes = [], [], []
    for i, s in enumerate(shells):
        n, pe, wpe = s.get("n"), s.get("phase_error"), s.get("phase_error_weighted")
        if not (isinstance(n, int) and not isinstance(n, bool) and n >= 0):
            out.append(f"{shells_key}[{i}].n {n!r} is not a reflection count")
            return
        for key, v in (("phase_error", pe), ("phase_error_weighted", wpe)):
            if v is None and n == 0:
                continue
            if v is None and key == "phase_error_weighted":
                continue  # all weights zero
            if not (_num(v) and 0 <= v <= 180):
                out.append(f"{shells_key}[{i}].{key} {v!r} is not an angle in [0, 180]")
                return
        ns.append(n)
        pes.append(pe)
        wpes.append(wpe)
    total = row.get("n_reflections")
    if not isinstance(total, int) or isinstance(total, bool):
        return
    if shells_key.startswith("shared"):
        if sum(ns) > total:
            out.append(f"{shells_key} hold {sum(ns)} reflections, the row has {total}")
        return
    if sum(ns) != total:
        out.append(f"{shells_key} hold {sum(ns)} reflections, n_reflections is {total}")
        return
    pe = row.get(pe_key)
    if total and _num(pe):
        mean = math.fsum(n * p for n, p in zip(ns, pes, strict=True) if n) / total
        if abs(mean - pe) > TOLERANCE_DEG * max(1.0, abs(pe)):
            out.append(f"{pe_key} {pe!r} is not the mean of its shells ({mean!r})")
    wpe = row.get(pe_key.replace("phase_error", "phase_error_weighted", 1))
    vals = [w for n, w in zip(ns, wpes, strict=True) if n and w is not None]
    if _num(wpe) and vals and not (min(vals) - 1e-6 <= wpe <= max(vals) + 1e-6):
        out.append(
            f"{pe_key.replace('phase_error', 'phase_error_weighted', 1)} {wpe!r} lies outside "
            f"its shells' values ({min(vals):.3f}–{max(vals):.3f})"
        )


def row_problems(row: dict, success_wmpe: float | None = None) -> list[str]:
    """Ways one per-example row contradicts itself (empty list when consistent).

    Parameters
    ----------
    row : dict
        One entry of ``results["examples"]``.
    success_wmpe : float, optional
        The built-in engine's success threshold; checks ``refined`` against it.
    """
    out: list[str] = []
    _shell_set(row, "shells", "phase_error", out)
    _shell_set(row, "shells_unaligned", "phase_error_unaligned", out)
    _shell_set(row, "shared_shells", "phase_error", out)
    _shell_set(row, "shared_shells_unaligned", "phase_error_unaligned", out)
    refined, final = row.get("refined"), row.get("final_phase_error_weighted")
    if success_wmpe is not None and isinstance(refined, bool) and _num(final):
        if refined != (final <= success_wmpe):
            out.append(
                f"refined is {refined} but final_phase_error_weighted {final:.3f}° "
                f"{'>' if refined else '<='} the engine's {success_wmpe:g}° success rule"
            )
    return out


def results_row_problems(results: dict, label: str) -> list[str]:
    """:func:`row_problems` of every row of a results file, one line each (capped)."""
    settings = results.get("settings") if isinstance(results.get("settings"), dict) else {}
    engine = settings.get("engine") if isinstance(settings.get("engine"), dict) else {}
    wmpe = engine.get("success_wmpe") if results.get("engine") == "builtin" else None
    wmpe = float(wmpe) if _num(wmpe) else None
    lines: list[str] = []
    n_bad = 0
    for r in results.get("examples") or []:
        if not isinstance(r, dict):
            continue
        found = row_problems(r, wmpe)
        if found:
            n_bad += 1
            if len(lines) < _MAX:
                lines.append(f"{label}: example {r.get('id')}: {'; '.join(found)}")
    if n_bad > len(lines):
        lines.append(f"{label}: … and {n_bad - len(lines)} more inconsistent rows")
    if lines:
        lines[-1] += " (hand-edited rows? scores come from crysbench submit only)"
    return lines


def _fingerprint(results: dict) -> list[str]:
    """Per-example values that two independent runs never share exactly."""
    keys = ("pearson", "amplitude_pearson", "phase_error", "phase_error_weighted")
    rows = results.get("examples") or []
    return [json.dumps([r.get(k) for k in keys]) for r in rows if isinstance(r, dict) and "id" in r]


def seed_copies(loaded: Sequence[dict], names: Sequence[str], label: str) -> list[str]:
    """Seeds of one entry that are copies of another (same per-example values).

    Two training seeds give different predictions, so not one example should score
    identically in all four of its headline metrics; a copy (possibly with a few rows or
    the timing edited) shares most of them.
    """
    out = []
    prints = [_fingerprint(r) if isinstance(r, dict) else [] for r in loaded]
    for j in range(len(prints)):
        for i in range(j):
            a, b = prints[i], prints[j]
            if not a or not b:
                continue
            same = sum(x == y for x, y in zip(a, b, strict=False))
            if same * 2 >= min(len(a), len(b)):
                out.append(
                    f"{label}/{names[j]}: {same} of {len(b)} examples score exactly as in "
                    f"{names[i]}: a copy, not another seed (seeds must be separate runs)"
                )
                break
    return out
