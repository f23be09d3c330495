"""Loader throughput against the paper's layout (one torch.save file per map).

Run:  python benchmarks/load.py [--variant const-res] [--store PATH]

Measures, in one process on the same examples: random access (one example at a
time, both maps), shuffled bucketed batches of 40 with 0 and 2 DataLoader workers,
and the anchor — one ``torch.save`` file per map read back with
``torch.load(weights_only=True)`` per example — with bytes and files per example.
Builds the bundled store first when no ``--store`` is given.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from crysbench.build import build_store
from crysbench.load import bucket_batches, load_split
from crysbench.store import disk_usage


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variant", default="const-res")
    p.add_argument("--store")
    p.add_argument("--n", type=int, default=200, help="examples for random access")
    args = p.parse_args()
    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp())
    store = args.store or str(tmp / "s.zarr")
    if not args.store:
        build_store(args.variant, out=store, jobs=2, progress=False)
    ds = load_split(store, "all")
    n = len(ds)
    s_bytes, s_files = disk_usage(Path(store))

    # anchor: the paper's layout
    anchor = tmp / "anchor"
    anchor.mkdir()
    for batch in bucket_batches(ds.buckets, 64, shuffle=False):
        b = ds.get_batch(batch)
        for i, eid in enumerate(b["id"]):
            torch.save(torch.from_numpy(b["patterson"][i].copy()), anchor / f"{eid}_pat.pt")
            torch.save(torch.from_numpy(b["density"][i].copy()), anchor / f"{eid}_ed.pt")
    a_bytes, a_files = disk_usage(anchor)
    rng = np.random.default_rng(0)
    order = rng.permutation(n)[: args.n]

    t0 = time.perf_counter()
    for i in order:
        eid = ds.ids[i]
        torch.load(anchor / f"{eid}_pat.pt", weights_only=True)
        torch.load(anchor / f"{eid}_ed.pt", weights_only=True)
    anchor_rate = len(order) / (time.perf_counter() - t0)

    t0 = time.perf_counter()
    for i in order:
        ds.get_batch([int(i)])
    random_rate = len(order) / (time.perf_counter() - t0)

    rates = {}
    for workers in (0, 2):
        loader = ds.dataloader(batch_size=40, shuffle=True, num_workers=workers)
        t0 = time.perf_counter()
        count = sum(len(b["id"]) for b in loader)
        rates[workers] = count / (time.perf_counter() - t0)
    mean_batch = n / len(bucket_batches(ds.buckets, 40))

    print(
        f"store: {store} ({ds.variant}), {n} examples, {len(ds.buckets)} buckets, "
        f"mean batch {mean_batch:.1f}"
    )
    print(f"{'layout':<28} {'ex/s':>8} {'KB/ex':>8} {'files/1k':>9}")
    kb, fk = s_bytes / n / 1024, 1000 * s_files / n
    print(f"{'crysbench random access':<28} {random_rate:8.0f} {kb:8.1f} {fk:9.1f}")
    print(f"{'crysbench batches, 0 workers':<28} {rates[0]:8.0f} {kb:8.1f} {fk:9.1f}")
    print(f"{'crysbench batches, 2 workers':<28} {rates[2]:8.0f} {kb:8.1f} {fk:9.1f}")
    print(
        f"{'anchor torch.load per map':<28} {anchor_rate:8.0f} {a_bytes / n / 1024:8.1f} "
        f"{1000 * a_files / n:9.1f}"
    )
    print(
        f"ratios vs anchor: random {random_rate / anchor_rate:.2f}, batched "
        f"{rates[0] / anchor_rate:.2f}; disk {a_bytes / s_bytes:.1f}x smaller"
    )
    print("targets: >= 600 ex/s batched, >= 300 ex/s random, <= 150 KB/ex, <= 10 files/1,000")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
