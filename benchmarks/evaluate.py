"""Benchmark of ``crysbench evaluate`` (metrics alone, and with builtin refinement),
plus the calibration of the builtin refinement engine (``--calibrate``).

Usage::

    python benchmarks/evaluate.py                 # throughput table
    python benchmarks/evaluate.py --store S.zarr  # + end to end on a store's test split
    python benchmarks/evaluate.py --calibrate     # calibration table + docs/img plot

With ``--store`` (a scale store, ``benchmarks/build.py --repeat``), noisy predictions of the
test split are written as ``<id>.npy`` files and as one zarr container
(:func:`crysbench.write_predictions`) and scored end to end by :func:`crysbench.evaluate`
(``engine="none"``, ``n_jobs`` 1 and 2, store and predictions read from disk), against the
metrics kernel on the same examples already in memory, in the same run; the cost of the
paper's 38,291-example test split is projected from the measured per-example times.

Throughput is single-core (scipy FFT workers=1). The anchor in the same run is a
gemmi-based computation (``transform_map_to_f_phi`` + a per-reflection Python loop for the
phase error, as a straightforward script would do it); the ratio is printed.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import gemmi
import numpy as np

import crysbench
from crysbench.maps import synthesize
from crysbench.refine.builtin import BuiltinEngine
from crysbench.rows import evaluate_example
from crysbench.rows import shell_edges as shared_shell_edges
from crysbench.structures import bundled_entries

ROOT = Path(__file__).resolve().parents[1]


def load(variant: str, n: int, pids=("1A8O", "3HSY", "4E43", "2XHE", "1GBT", "4ZHL")):
    out = []
    per = max(1, -(-n // len(pids)))
    for pid in pids:
        out += list(crysbench.generate_examples(bundled_entries()[pid], variant))[:per]
    return out[:n]


def anchor_metrics(pred: np.ndarray, ex) -> float:
    """gemmi FFT + a per-reflection Python loop (the naive reference)."""
    grid = gemmi.FloatGrid(pred, ex.cell, gemmi.SpaceGroup("P 1"))
    fphi = gemmi.transform_map_to_f_phi(grid, half_l=True)
    arr = np.asarray(fphi.array)
    nu, nv, _ = arr.shape
    tot = 0.0
    for (h, k, l), f in zip(ex.hkl.tolist(), ex.F.tolist()):
        fp = arr[h % nu, k % nv, l]
        d = abs(
            math.degrees(math.atan2(fp.imag, fp.real)) - math.degrees(math.atan2(f.imag, f.real))
        )
        tot += min(d, 360 - d)
    return tot / len(ex.hkl)


def noisy_map(ex, deg: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    F = ex.F * np.exp(1j * np.deg2rad(deg) * rng.choice([-1.0, 1.0], len(ex.F)))
    return synthesize(ex.hkl, F, ex.grid_shape, ex.cell.volume)


def throughput(n: int) -> None:
    exs = load("const-res", n)
    store = crysbench.MemoryStore.from_examples(exs, "const-res", split="test")
    preds = [noisy_map(ex, 40.0, i) for i, ex in enumerate(exs)]
    for ex in exs:  # true maps are part of the store read, not of the metric
        ex.density  # noqa: B018
    edges = shared_shell_edges(store)
    rows = []
    t = time.perf_counter()
    for p, ex in zip(preds, exs):
        evaluate_example(p, ex, edges, None)
    t_metrics = (time.perf_counter() - t) / len(exs)
    t = time.perf_counter()
    for p, ex in zip(preds, exs):
        evaluate_example(p, ex, edges, None, origin_search=True, hand_search=True)
    t_search = (time.perf_counter() - t) / len(exs)
    t = time.perf_counter()
    for p, ex in zip(preds, exs):
        anchor_metrics(p, ex)
    t_anchor = (time.perf_counter() - t) / len(exs)
    eng = BuiltinEngine()
    m = min(len(exs), 12)
    t = time.perf_counter()
    for p, ex in zip(preds[:m], exs[:m]):
        rows.append(evaluate_example(p, ex, edges, eng))
    t_refine = (time.perf_counter() - t) / m
    nref = np.mean([len(ex.hkl) for ex in exs])
    vox = np.mean([np.prod(ex.grid_shape) for ex in exs])
    print(f"const-res examples: {len(exs)}, mean {nref:.0f} reflections, {vox:.0f} voxels, 1 core")
    print(f"{'task':<42}{'s/example':>12}{'examples/s':>12}")
    for name, tt in (
        ("anchor: gemmi FFT + per-reflection loop", t_anchor),
        ("metrics (PC, amplitudes, phase, shells)", t_metrics),
        ("metrics + origin & hand search", t_search),
        ("metrics + builtin refinement", t_refine),
    ):
        print(f"{name:<42}{tt:>12.4f}{1 / tt:>12.1f}")
    print(f"speed-up of metrics over the anchor: {t_anchor / t_metrics:.1f}x")
    print(
        f"refinement: {np.mean([r['final_phase_error_weighted'] for r in rows]):.1f}° final "
        f"wMPE from {np.mean([r['start_phase_error_weighted'] for r in rows]):.1f}°"
    )


def end_to_end(store_path: str, jobs: list[int], refine_n: int) -> None:
    """End-to-end evaluate on a store's test split vs the kernel; paper-size projection."""
    import shutil
    import tempfile

    from crysbench.load import bucket_batches, load_split

    store = crysbench.open_store(store_path)
    ds = load_split(store, "test", normalize=None)
    tmp = Path(tempfile.mkdtemp())
    folder = tmp / "npy"
    folder.mkdir()
    rng = np.random.default_rng(0)
    maps = {}
    for b in bucket_batches(ds.buckets, 64, shuffle=False):
        out = ds.get_batch(b)
        for i, eid in enumerate(out["id"]):
            d = out["density"][i]
            m = (d + rng.normal(0, 0.5 * float(d.std()), d.shape)).astype(np.float32)
            np.save(folder / f"{eid}.npy", m)
            maps[eid] = m
    container = crysbench.write_predictions(tmp / "p.zarr", maps)
    n = len(maps)
    edges = shared_shell_edges(store)
    sample = rng.permutation(sorted(maps))[:200]  # every grid size, as the split has them
    exs = [store.get(str(k)) for k in sample]
    for ex in exs:
        ex.density  # noqa: B018  (true maps are part of the store read, not the kernel)
    t = time.perf_counter()
    for ex in exs:
        evaluate_example(maps[ex.id], ex, edges, None)
    kernel = len(exs) / (time.perf_counter() - t)
    t = time.perf_counter()
    for ex in exs:
        anchor_metrics(maps[ex.id], ex)
    anchor = len(exs) / (time.perf_counter() - t)
    rows = []
    for src, label in ((folder, "npy files"), (container, "zarr container")):
        for j in jobs:
            if j > 1:  # start the (reusable) workers first: start-up is not throughput
                crysbench.evaluate(src, store, engine="none", n_jobs=j, progress=False)
            t = time.perf_counter()
            res = crysbench.evaluate(src, store, engine="none", n_jobs=j, progress=False)
            dt = time.perf_counter() - t
            assert len(res["examples"]) == n
            rows.append((f"evaluate, {label}, --jobs {j}", n / dt, n / dt / j))
    from joblib.externals.loky import get_reusable_executor

    t = time.perf_counter()
    get_reusable_executor(max_workers=max(jobs)).shutdown(wait=True)
    crysbench.evaluate(folder, store, engine="none", n_jobs=max(jobs), progress=False)
    cold = time.perf_counter() - t
    m = min(refine_n, n)
    keys = [str(k) for k in sample[:m]]
    sub = {k: maps[k] for k in keys}
    t = time.perf_counter()
    crysbench.evaluate(sub, store, engine="builtin", allow_missing=True, progress=False)
    t_ref = (time.perf_counter() - t) / m
    print(f"\nstore {store_path}: {n} test examples, scored end to end (engine none)")
    print(f"{'task':<40}{'examples/s':>12}{'per core':>10}")
    print(f"{'anchor: gemmi + per-reflection loop':<40}{anchor:>12.1f}{anchor:>10.1f}")
    print(f"{'kernel: evaluate_example, in memory':<40}{kernel:>12.1f}{kernel:>10.1f}")
    for name, rate, per in rows:
        print(f"{name:<40}{rate:>12.1f}{per:>10.1f}")
    best1 = max(r[1] for r in rows if r[0].endswith("--jobs 1"))
    print(f"end to end (--jobs 1) / kernel: {best1 / kernel:.2f}; kernel / anchor: "
          f"{kernel / anchor:.1f}x")  # fmt: skip
    print(f"--jobs {max(jobs)} from cold workers (start-up included): {cold:.1f} s")
    print(f"builtin refinement, end to end: {t_ref:.3f} s/example ({m} examples)")
    paper = 38291
    per_ex = 1 / best1
    print(f"projected cost of the paper's test split ({paper} examples):")
    for cores in (2, 64):
        print(
            f"  {cores:>2} cores: metrics only {paper * per_ex / cores / 60:7.1f} min, "
            f"with builtin refinement {paper * (per_ex + t_ref) / cores / 60:7.1f} min"
        )
    shutil.rmtree(tmp, ignore_errors=True)


def vm_kappa(target_deg: float) -> float:
    """Von Mises κ whose mean |δ| is target_deg (0 → ∞, ≥ 90 → 0)."""
    if target_deg <= 0:
        return math.inf
    if target_deg >= 90:
        return 0.0
    x = np.linspace(-np.pi, np.pi, 20001)

    def mean_abs(k):
        p = np.exp(k * (np.cos(x) - 1))
        return math.degrees(float((np.abs(x) * p).sum() / p.sum()))

    lo, hi = 1e-6, 1e4
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        if mean_abs(mid) > target_deg:
            lo = mid
        else:
            hi = mid
    return math.sqrt(lo * hi)


def start_phases(ex, kind: str, level: float, rng) -> np.ndarray:
    F = np.asarray(ex.F, dtype=np.complex128)
    if kind == "vonmises":
        k = vm_kappa(level)
        if k == math.inf:
            d = np.zeros(len(F))
        elif k == 0:
            d = rng.uniform(-np.pi, np.pi, len(F))
        else:
            d = rng.vonmises(0.0, k, len(F))
    else:  # "resolution": mean error rising linearly in 1/d from 20° to `level` at dmin
        from crysbench.maps import inv_d2

        s = np.sqrt(inv_d2(ex.cell, ex.hkl)) * ex.dmin
        d = np.empty(len(F))
        for lo in np.linspace(0, 1, 11)[:-1]:
            sel = (s >= lo) & (s < lo + 0.1 + 1e-9)
            k = vm_kappa(20 + (level - 20) * (lo + 0.05))
            d[sel] = (
                rng.vonmises(0.0, k, int(sel.sum()))
                if k > 0
                else rng.uniform(-np.pi, np.pi, int(sel.sum()))
            )
    return np.abs(F) * np.exp(1j * (np.angle(F) + d))


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    den = 1 + z * z / n
    c = (p + z * z / (2 * n)) / den
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, c - h), min(1.0, c + h))


def calibrate(n_per_variant: int, out_json: Path, out_png: Path) -> None:
    exs = load("const-res", n_per_variant) + load("var-res", n_per_variant)
    eng = BuiltinEngine()
    settings = [("vonmises", x) for x in (0, 20, 30, 40, 50, 60, 70, 90)] + [
        ("resolution", x) for x in (60, 80)
    ]
    records = []
    t0 = time.perf_counter()
    for kind, level in settings:
        for i, ex in enumerate(exs):
            rng = np.random.default_rng([i, int(level), kind == "resolution"])
            out = eng.refine(ex, start_phases(ex, kind, level, rng))
            records.append({"id": ex.id, "dmin": ex.dmin, "kind": kind, "level": level, **out})
    elapsed = time.perf_counter() - t0
    print(f"{len(records)} refinements, {elapsed / len(records):.2f} s each")
    print(
        f"{'start':<22}{'n':>4}{'start wMPE':>12}{'final wMPE':>12}{'median fin':>12}"
        f"{'solved':>8}{'95% CI':>14}"
    )
    table = []
    for kind, level in settings:
        rs = [r for r in records if r["kind"] == kind and r["level"] == level]
        k = sum(r["refined"] for r in rs)
        lo, hi = wilson(k, len(rs))
        row = {
            "start": f"{kind} {level}°",
            "n": len(rs),
            "start_wmpe": float(np.mean([r["start_phase_error_weighted"] for r in rs])),
            "final_wmpe": float(np.mean([r["final_phase_error_weighted"] for r in rs])),
            "final_wmpe_median": float(np.median([r["final_phase_error_weighted"] for r in rs])),
            "solved": k / len(rs),
            "ci": [lo, hi],
        }
        table.append(row)
        print(
            f"{row['start']:<22}{row['n']:>4}{row['start_wmpe']:>12.1f}{row['final_wmpe']:>12.1f}"
            f"{row['final_wmpe_median']:>12.1f}{row['solved']:>8.2f}   [{lo:.2f}, {hi:.2f}]"
        )
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(
        json.dumps(
            {
                "engine": "builtin",
                "settings": eng.settings,
                "crysbench_version": crysbench.__version__,
                "table": table,
                "records": records,
            },
            indent=1,
        )
    )
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), dpi=90)
    ax = axes[0]
    for kind, mk in (("vonmises", "o"), ("resolution", "^")):
        rs = [r for r in records if r["kind"] == kind]
        ax.scatter(
            [r["start_phase_error_weighted"] for r in rs],
            [r["final_phase_error_weighted"] for r in rs],
            s=8,
            marker=mk,
            alpha=0.6,
            label=kind,
        )
    ax.plot([0, 95], [0, 95], color="0.5", lw=0.8)
    ax.axhline(eng.success_wmpe, color="C3", lw=0.8, ls="--")
    ax.set_xlabel("start wMPE (°, aligned)")
    ax.set_ylabel("final wMPE (°, aligned)")
    ax.legend(fontsize=7)
    ax = axes[1]
    vm = [t for t in table if t["start"].startswith("vonmises")]
    x = [t["start_wmpe"] for t in vm]
    y = [t["solved"] for t in vm]
    err = np.array([[t["solved"] - t["ci"][0], t["ci"][1] - t["solved"]] for t in vm]).T
    ax.errorbar(x, y, yerr=err, fmt="o-", capsize=3)
    ax.set_xlabel("start wMPE (°)")
    ax.set_ylabel("fraction solved (final wMPE ≤ 40°)")
    ax.set_ylim(-0.05, 1.05)
    fig.suptitle(
        f"builtin refinement calibration (n={len(exs)} bundled examples per start)", fontsize=9
    )
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png)
    print(f"wrote {out_json} and {out_png}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=24, help="examples for the throughput table")
    p.add_argument("--calibrate", action="store_true")
    p.add_argument("--store", help="also score a store's test split end to end")
    p.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="with --store")
    p.add_argument("--refine-n", type=int, default=24, help="with --store: refined examples")
    p.add_argument("--n-cal", type=int, default=12, help="examples per variant (calibration)")
    p.add_argument("--cal-json", default="/tmp/crysbench_calibration.json")
    p.add_argument("--cal-png", default=str(ROOT / "docs" / "img" / "refine_calibration.png"))
    a = p.parse_args()
    if a.calibrate:
        calibrate(a.n_cal, Path(a.cal_json), Path(a.cal_png))
    else:
        throughput(a.n)
        if a.store:
            end_to_end(a.store, a.jobs, a.refine_n)


if __name__ == "__main__":
    main()
