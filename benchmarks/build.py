"""End-to-end build speed, disk use and memory, against the paper's one-file-per-map layout.

Run:  python benchmarks/build.py [--jobs 2] [--variants const-res var-res dipeptide]

For each variant: `crysbench build` on the bundled entries (examples/s end to end,
bytes per example, files per 1,000 examples, peak RSS of the build), then the anchor
in the same run on the same examples: the paper's layout, one float32 tensor file per
map (`torch.save` when torch is installed, `np.save` otherwise), its bytes and files.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from crysbench.build import build_store
from crysbench.load import bucket_batches, load_split
from crysbench.store import disk_usage
from crysbench.structures import bundled_entries


def anchor_layout(store: str, folder: Path) -> tuple[float, int, int]:
    """Write every example as one float32 file per map; returns (seconds, bytes, files)."""
    try:
        import torch

        def save(a, p):
            torch.save(torch.from_numpy(a), f"{p}.pt")
    except ImportError:  # pragma: no cover

        def save(a, p):
            np.save(f"{p}.npy", a)

    ds = load_split(store, "all", normalize=None)
    folder.mkdir(parents=True)
    t0 = time.perf_counter()
    for batch in bucket_batches(ds.buckets, 64, shuffle=False):
        b = ds.get_batch(batch)
        for i, eid in enumerate(b["id"]):
            save(b["patterson"][i], folder / f"{eid}_patterson")
            save(b["density"][i], folder / f"{eid}_density")
    dt = time.perf_counter() - t0
    nbytes, nfiles = disk_usage(folder)
    return dt, nbytes, nfiles


def _entries(repeat: int) -> dict:
    """The bundled entries, each ``repeat`` times under made-up PDB ids (8xxx, 9xxx)."""
    base = bundled_entries()
    if repeat == 1:
        return base
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out, n = {}, 0
    for _ in range(repeat):
        for path in base.values():
            out[
                f"{8 + n // 36**3}{digits[n // 36**2 % 36]}{digits[n // 36 % 36]}{digits[n % 36]}"
            ] = path
            n += 1
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--variants", nargs="+", default=["const-res", "var-res", "dipeptide"])
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="use each bundled entry N times under distinct ids (throughput at scale)",
    )
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp())
    rows = []
    for v in args.variants:
        out = tmp / f"{v}.zarr"
        t0 = time.perf_counter()
        rep = build_store(
            v,
            out=str(out),
            jobs=args.jobs,
            progress=False,
            entries=_entries(args.repeat),
            no_cache=True,  # cold: every entry is made
        )
        dt = time.perf_counter() - t0
        n = rep["n_examples"]
        a_dt, a_bytes, a_files = anchor_layout(str(out), tmp / f"{v}-anchor")
        rows.append(
            (
                v,
                n,
                n / dt,
                rep["bytes_per_example"] / 1024,
                rep["files_per_1000"],
                a_bytes / n / 1024,
                1000 * a_files / n,
                a_bytes / n / rep["bytes_per_example"],
            )
        )
    peak = (
        max(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        )
        / 1024
    )
    print(f"jobs={args.jobs}  (bundled entries; per-entry results cached, then assembled)")
    print(
        f"{'variant':<10} {'examples':>8} {'ex/s':>7} {'KB/ex':>7} {'files/1k':>9} "
        f"{'anchor KB/ex':>12} {'anchor files/1k':>15} {'disk ratio':>10}"
    )
    for r in rows:
        print(
            f"{r[0]:<10} {r[1]:>8} {r[2]:7.1f} {r[3]:7.1f} {r[4]:9.1f} {r[5]:12.1f} "
            f"{r[6]:15.1f} {r[7]:9.1f}x"
        )
    print(f"peak RSS (max of this process and its workers): {peak:.0f} MB")
    print("targets: >= 250 ex/s on 2 cores (const-res), <= 150 KB/example, <= 10 files/1,000")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
