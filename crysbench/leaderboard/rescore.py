"""Compact predictions committed with a leaderboard entry, and re-scoring them (SPEC §8). (io)

An entry may carry ``predictions.npz`` (and ``predictions-seed2.npz``, … per seed): the
structure factors of each predicted map at the store's reflections, to the example's
dmin, as float16 relative to the example's largest amplitude — a few KB per example,
against ~1 MB per float32 map. Given a store with the board's test fingerprint,
``crysbench leaderboard check --store STORE`` recomputes from them every phase error,
amplitude-weighted phase error, per-shell phase error and amplitude correlation of the
results rows (after the same origin/hand search), so a row edited together with its
shells and the aggregate still fails. The real-space Pearson correlation needs the whole
map and is not re-scored.

Examples
--------
>>> import numpy as np, tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "predictions.npz"
>>> _ = write_compact(p, {"a": np.array([3 + 4j, 1j])})
>>> F = read_compact(p)["a"]
>>> bool(np.allclose(F, [3 + 4j, 1j], rtol=1e-3, atol=1e-3))
True
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "PHASE_TOL_DEG",
    "prediction_files",
    "write_compact",
    "read_compact",
    "compact_from_maps",
    "rescore_rows",
]

#: Degrees a re-scored phase error may differ from the row (float16 rounding only).
PHASE_TOL_DEG = 0.5
_AMP_TOL = 0.01


def prediction_files(results_file: Path) -> Path:
    """Predictions file of a results file: ``results-seed2.json`` → ``predictions-seed2.npz``."""
    return results_file.with_name(
        results_file.name.replace("results", "predictions", 1).replace(".json", ".npz")
    )


def write_compact(path: str | Path, F_by_id: Mapping[str, np.ndarray]) -> Path:
    """Write structure factors by example id as scaled float16 (one compressed ``.npz``)."""
    ids = list(F_by_id)
    Fs = [np.asarray(F_by_id[i], dtype=np.complex128) for i in ids]
    scale = np.array([max(float(np.abs(F).max()), 1e-30) if len(F) else 1.0 for F in Fs])
    off = np.zeros(len(ids) + 1, dtype=np.int64)
    off[1:] = np.cumsum([len(F) for F in Fs])
    table = np.zeros((int(off[-1]), 2), dtype=np.float16)
    for j, F in enumerate(Fs):
        table[off[j] : off[j + 1], 0] = F.real / scale[j]
        table[off[j] : off[j + 1], 1] = F.imag / scale[j]
    path = Path(path)
    with open(path, "wb") as fh:
        np.savez_compressed(
            fh, ids=np.array(ids, dtype=str), offsets=off, F=table, scale=scale.astype(np.float32)
        )
    return path


def read_compact(path: str | Path) -> dict[str, np.ndarray]:
    """Structure factors by example id from :func:`write_compact` (complex128)."""
    with np.load(path, allow_pickle=False) as z:
        ids, off, table, scale = z["ids"], z["offsets"], z["F"], z["scale"]
    F = table[:, 0].astype(np.float64) + 1j * table[:, 1].astype(np.float64)
    return {str(i): F[off[j] : off[j + 1]] * float(scale[j]) for j, i in enumerate(ids.tolist())}


def compact_from_maps(predictions: Any, store: Any, ids: list[str]) -> dict[str, np.ndarray]:
    """Structure factors of predicted maps at each example's stored reflections."""
    from crysbench.metrics import map_to_sf

    out = {}
    for i in ids:
        ex = store.get(i)
        out[i] = map_to_sf(np.asarray(predictions[i], dtype=np.float32), ex.cell, ex.hkl)
    return out


def _row_metrics(Fp: np.ndarray, ex: Any, settings: dict) -> dict:
    from crysbench.maps import inv_d2
    from crysbench.metrics import align_origin_hand, pearson, phase_error, phase_error_by_shell

    Ft = np.asarray(ex.F, dtype=np.complex128)
    w = np.abs(Ft)
    s = inv_d2(ex.cell, ex.hkl)
    n_sh = int(settings.get("n_shells", 12))
    out = {"amplitude_pearson": pearson(np.abs(Fp), w)}
    origin, hand = bool(settings.get("origin_search")), bool(settings.get("hand_search"))
    if origin or hand:
        out["phase_error_unaligned"] = phase_error(Fp, Ft)
        out["phase_error_weighted_unaligned"] = phase_error(Fp, Ft, w)
        Fp, _, _ = align_origin_hand(Fp, Ft, ex.hkl, origin=origin, hand=hand)
    out["phase_error"] = phase_error(Fp, Ft)
    out["phase_error_weighted"] = phase_error(Fp, Ft, w)
    out["shells"] = [x["phase_error"] for x in phase_error_by_shell(Fp, Ft, s, n_shells=n_sh)]
    return out


def rescore_rows(
    results: dict, compact: Mapping[str, np.ndarray], store: Any, label: str
) -> list[str]:
    """Rows of ``results`` that the committed predictions do not reproduce, one line each.

    Parameters
    ----------
    results : dict
        A parsed results file.
    compact : mapping
        :func:`read_compact` of its predictions file.
    store : crysbench.store.Store
        A store with the results' test fingerprint (examples verified on read).
    label : str
        Prefix of the messages (the results file).
    """
    rows = [r for r in results.get("examples") or [] if isinstance(r, dict)]
    missing = sorted({str(r.get("id")) for r in rows} - set(compact))
    if missing:
        return [
            f"{label}: the predictions file has no structure factors for {', '.join(missing[:8])}"
        ]
    settings = results.get("settings") if isinstance(results.get("settings"), dict) else {}
    lines, n_bad = [], 0
    for r in rows:
        ex = store.get(str(r["id"]))
        Fp = compact[str(r["id"])]
        if len(Fp) != len(ex.hkl):
            found = [f"{len(Fp)} structure factors for {len(ex.hkl)} reflections"]
        else:
            found = _compare(r, _row_metrics(Fp, ex, settings))
        if found:
            n_bad += 1
            if len(lines) < 8:
                lines.append(f"{label}: example {r['id']}: {'; '.join(found)}")
    if n_bad > len(lines):
        lines.append(f"{label}: … and {n_bad - len(lines)} more rows")
    if lines:
        lines[-1] += " (the committed predictions do not score as the row says)"
    return lines


def _compare(row: dict, again: dict) -> list[str]:
    out = []
    for key, val in again.items():
        got = row.get(key)
        if key == "shells":
            mine = [s.get("phase_error") for s in row.get("shells") or []]
            if len(mine) != len(val) or any(
                (a is None) != (b is None) or (a is not None and abs(a - b) > PHASE_TOL_DEG)
                for a, b in zip(mine, val, strict=False)
            ):
                out.append("shells differ from the re-scored ones")
            continue
        tol = _AMP_TOL if key == "amplitude_pearson" else PHASE_TOL_DEG
        if got is None or val is None or not np.isfinite(val):
            continue
        if abs(float(got) - float(val)) > tol:
            out.append(f"{key} {got:.3f}, re-scored {val:.3f}")
    return out
