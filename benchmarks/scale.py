"""`crysbench build` from 180 to 200,000 examples: time per stage, memory, files, scratch.

Run:  python benchmarks/scale.py [--jobs 2] [--const-res 1 10 50 200] [--dipeptide 5 100]
                                 [--nofile 256] [--log benchmarks/logs/scale.txt]
      python benchmarks/scale.py --rows benchmarks/logs/scale.jsonl   # the table again

Each size is the bundled entries replicated N times under distinct made-up PDB ids
(as `benchmarks/build.py --repeat`), built in a fresh subprocess under `ulimit -n
NOFILE` with an empty entry cache (cold: every stage runs), then built again from
the warm cache (`--overwrite`: the assembly alone). For each: wall time, examples/s
end to end and per stage, peak RSS (coordinator and largest worker), scratch bytes
(the per-entry parts) against the store, files per 1,000 examples, open files.

Anchor, in the same run: the generation floor — the same examples made in this
process with no I/O at all (`examples_from_entry` plus the density synthesis that
the build needs for its statistics), per example on one core. The ratio
end-to-end/floor is what the pipeline costs on top of the physics. A linear fit of
each stage's cost projects the paper's const-res build (387,171 examples) and a
10-million-example build on 2 cores and on a 64-core dask cluster.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {here!r})
from build import _entries
from crysbench.build import build_store
args = json.loads(sys.argv[1])
resource.setrlimit(resource.RLIMIT_NOFILE, (args["nofile"], args["nofile"]))
t0 = time.perf_counter()
rep = build_store(args["variant"], out=args["out"], jobs=args["jobs"], progress=False,
                  entries=_entries(args["repeat"]), cache_dir=args["cache"], overwrite=True)
rep["wall"] = time.perf_counter() - t0
rep["children_rss"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
rep.pop("rejections", None); rep.pop("paper", None); rep.pop("buckets", None)
print("REPORT " + json.dumps(rep))
"""


def run_build(variant: str, repeat: int, jobs: int, nofile: int, out: Path, cache: Path) -> dict:
    """One build in a fresh interpreter under ``ulimit -n nofile``; returns its report."""
    args = {
        "variant": variant,
        "repeat": repeat,
        "jobs": jobs,
        "nofile": nofile,
        "out": str(out),
        "cache": str(cache),
    }
    code = CHILD.format(here=str(HERE))
    p = subprocess.run(
        [sys.executable, "-c", code, json.dumps(args)], capture_output=True, text=True, check=False
    )
    if p.returncode != 0:
        raise SystemExit(f"build {variant} x{repeat} failed:\n{p.stderr[-3000:]}")
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("REPORT ")][-1]
    return json.loads(line[len("REPORT ") :])


def generation_floor(variant: str, max_examples: int = 120) -> float:
    """Seconds per example of generation alone (no I/O), one core, bundled entries."""
    from crysbench.example import examples_from_entry
    from crysbench.structures import bundled_entries, read_entry

    n, t = 0, 0.0
    for pid, path in sorted(bundled_entries().items()):
        entry = read_entry(path, pdb_id=pid)
        if entry.curation_reasons():
            continue
        t0 = time.perf_counter()
        for ex in examples_from_entry(entry, variant):
            float(ex.density.max())
            n += 1
            if n >= max_examples:
                break
        t += time.perf_counter() - t0
        if n >= max_examples:
            break
    return t / max(n, 1)


def floor_in_child(variant: str) -> float:
    """:func:`generation_floor` in a fresh interpreter: this process stays small, so the
    builds it starts report their own peak memory (Linux carries ``ru_maxrss`` from a
    parent into its children; the builds report ``VmHWM``, but kept small all the same)."""
    code = f"import sys; sys.path.insert(0, {str(HERE)!r}); import scale; "
    code += f"print(scale.generation_floor({variant!r}))"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(p.stdout.split()[-1])


def _row(variant: str, repeat: int, cold: dict, warm: dict) -> dict:
    n = cold["n_examples"]
    t = cold["time"]
    res = cold["resources"]
    assembly = warm["time"]["plan_wall"] + warm["time"]["write_wall"] + warm["time"]["finish_wall"]
    return {
        "variant": variant,
        "repeat": repeat,
        "examples": n,
        "wall_s": round(cold["wall"], 1),
        "ex_per_s": round(n / cold["wall"], 1),
        "entries_ex_per_s": round(n / t["entries_wall"], 1),
        "write_ex_per_s": round(n / max(t["write_wall"], 1e-9), 1),
        "entries_ex_per_cpu_s": round(n / max(t.get("entries_cpu", 0), 1e-9), 1),
        "write_ex_per_cpu_s": round(n / max(t.get("write_cpu", 0), 1e-9), 1),
        "assembly_only_s": round(assembly, 2),
        "assembly_ex_per_s": round(n / max(assembly, 1e-9), 1),
        "rss_main_mb": round(res["peak_rss_main"] / 2**20),
        "rss_worker_mb": round(max(res["peak_rss_worker"], cold["children_rss"]) / 2**20),
        "rss_warm_main_mb": round(warm["resources"]["peak_rss_main"] / 2**20),
        "scratch_mb": round(res["scratch_bytes"] / 2**20, 1),
        "scratch_over_store": res.get("scratch_over_store"),
        "store_kb_per_ex": round(cold["bytes_per_example"] / 1024, 1),
        "files_per_1000": cold["files_per_1000"],
        "open_files_max": res["open_files_max"],
        "ulimit_n": res["open_files_limit"],
        "t_entries": t["entries_wall"],
        "t_plan": t["plan_wall"],
        "t_write": t["write_wall"],
        "t_finish": t["finish_wall"],
    }


def project(rows: list[dict], floor: float, jobs: int) -> list[str]:
    """Cost model per stage from the largest const-res build, projected to 387k and 10M.

    The parallel stages (entries, write) are costed in CPU seconds per example summed
    over their tasks, which other load on the machine does not inflate; the serial
    stages (plan, finish, in the coordinator) by their wall time per example.
    """
    cr = [r for r in rows if r["variant"] == "const-res"]
    if not cr:
        return []
    big = max(cr, key=lambda r: r["examples"])
    n = big["examples"]
    cpu = {"entries": 1 / big["entries_ex_per_cpu_s"], "write": 1 / big["write_ex_per_cpu_s"]}
    serial = (big["t_plan"] + big["t_finish"]) / n
    out = [
        f"cost model (const-res, {n:,} examples): entries {cpu['entries'] * 1e3:.2f} CPU-ms/"
        f"example (generation floor {floor * 1e3:.2f} ms), write {cpu['write'] * 1e3:.2f} "
        f"CPU-ms/example, plan+finish {serial * 1e6:.1f} µs/example in the coordinator; "
        f"{jobs} free cores would give {jobs / (cpu['entries'] + cpu['write']):.0f} examples/s"
    ]
    for size in (387_171, 10_000_000):
        for cores in (jobs, 64):
            stages = {k: c * size / cores for k, c in cpu.items()}
            stages["plan+finish"] = serial * size
            total = sum(stages.values())
            lim = max(stages, key=stages.get)
            out.append(
                f"{size:>10,} examples on {cores:>2} cores: {total / 3600:6.2f} h (entries "
                f"{stages['entries'] / 60:.1f} min, write {stages['write'] / 60:.1f} min, "
                f"plan+finish {stages['plan+finish'] / 60:.1f} min); limited by {lim}"
            )
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--const-res", type=int, nargs="*", default=[1, 10, 50, 200])
    p.add_argument("--dipeptide", type=int, nargs="*", default=[5, 100])
    p.add_argument("--nofile", type=int, default=256, help="ulimit -n of every build")
    p.add_argument("--log", help="also write the table and projections to this file")
    p.add_argument(
        "--rows", help="print the table from the JSON rows of an earlier run (no builds)"
    )
    args = p.parse_args()
    if args.rows:
        rows = [json.loads(ln) for ln in Path(args.rows).read_text().splitlines() if ln.strip()]
        _print(rows, args)
        return
    tmp = Path(tempfile.mkdtemp(prefix="crysbench-scale-"))
    rows = []
    floor: dict[str, list[float]] = {"const-res": [], "dipeptide": []}
    plan = [("const-res", r) for r in args.const_res] + [("dipeptide", r) for r in args.dipeptide]
    try:
        for variant, repeat in plan:
            out, cache = tmp / f"{variant}-{repeat}.zarr", tmp / f"cache-{variant}-{repeat}"
            floor[variant].append(floor_in_child(variant))  # measured beside each build
            cold = run_build(variant, repeat, args.jobs, args.nofile, out, cache)
            warm = run_build(variant, repeat, args.jobs, args.nofile, out, cache)
            rows.append({**_row(variant, repeat, cold, warm), "floor": floor[variant][-1]})
            print(json.dumps(rows[-1]), flush=True)
            shutil.rmtree(out, ignore_errors=True)
            shutil.rmtree(cache, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.log:
        Path(args.log).with_suffix(".jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    _print(rows, args)


def _print(rows: list[dict], args) -> None:
    floor: dict[str, list[float]] = {}
    for r in rows:
        floor.setdefault(r["variant"], []).append(r["floor"])
    cols = [
        ("variant", "variant"),
        ("repeat", "x"),
        ("examples", "examples"),
        ("wall_s", "wall s"),
        ("ex_per_s", "ex/s"),
        ("entries_ex_per_s", "entries ex/s"),
        ("assembly_ex_per_s", "assembly ex/s"),
        ("entries_ex_per_cpu_s", "entries ex/CPU-s"),
        ("write_ex_per_cpu_s", "write ex/CPU-s"),
        ("rss_main_mb", "RSS main MB"),
        ("rss_worker_mb", "RSS worker MB"),
        ("scratch_over_store", "scratch/store"),
        ("store_kb_per_ex", "KB/ex"),
        ("files_per_1000", "files/1k"),
        ("open_files_max", "open files"),
        ("ulimit_n", "ulimit -n"),
    ]
    load = os.getloadavg()[0]
    lines = [
        f"load average at the end {load:.1f} on {os.cpu_count()} cores (other work slows wall "
        "times; ex/CPU-s counts only this build's CPU seconds)",
        f"jobs={args.jobs}, cpus={os.cpu_count()}, generation floor (1 core, no I/O): "
        + ", ".join(f"{v} {np.median(f) * 1e3:.2f} ms/example" for v, f in floor.items() if f),
        " | ".join(h for _, h in cols),
    ]
    for r in rows:
        lines.append(" | ".join(str(r[k]) for k, _ in cols))
        fl = r["floor"] / args.jobs
        lines.append(
            f"    {r['variant']} x{r['repeat']}: end to end "
            f"{r['wall_s'] / r['examples'] * 1e3:.2f} "
            f"ms/example = {r['wall_s'] / r['examples'] / fl:.2f}x the generation floor on "
            f"{args.jobs} cores; stages entries {r['t_entries']} s, plan {r['t_plan']} s, "
            f"write {r['t_write']} s, finish {r['t_finish']} s"
        )
    if floor.get("const-res"):  # the projections are of const-res builds
        lines += project(rows, float(np.median(floor["const-res"])), args.jobs)
    for variant in sorted({r["variant"] for r in rows}):
        rss = [r for r in rows if r["variant"] == variant and r["examples"] >= 9000]
        if len(rss) < 2:
            continue
        lo = min(rss, key=lambda r: r["examples"])
        hi = max(rss, key=lambda r: r["examples"])
        lines.append(
            f"peak RSS of the build's coordinator, {variant}: {lo['rss_main_mb']} MB at "
            f"{lo['examples']:,} examples, {hi['rss_main_mb']} MB at {hi['examples']:,} "
            f"({hi['rss_main_mb'] / lo['rss_main_mb']:.2f}x); largest worker "
            f"{lo['rss_worker_mb']} and {hi['rss_worker_mb']} MB"
        )
    lines.append(
        f"peak RSS of this benchmark process: "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )
    text = "\n".join(lines)
    print(text)
    if args.log:
        Path(args.log).parent.mkdir(parents=True, exist_ok=True)
        Path(args.log).write_text(text + "\n")


if __name__ == "__main__":
    main()
