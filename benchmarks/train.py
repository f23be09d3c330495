"""Training throughput of RecCrysFormer (examples/s) and peak memory, CPU or CUDA.

Runs full training steps (forward, the paper's loss, backward, AdamW step) of a
config (default: the paper's full model) on batches with the grid shapes of real
const-res examples generated from the bundled PDB entries, one grid shape per
batch as in bucketed training, and prints the paper's anchor beside the result:
314 min per const-res epoch of 348,880 examples on one RTX 6000 Ada
(≈ 18.5 examples/s). The anchor cannot be rerun here (other hardware, no code
release), so the ratio compares this machine's number with the published one.

Usage::

    python benchmarks/train.py                         # full config, auto device
    python benchmarks/train.py --device cuda --batch-size 40 --amp --compile
    python benchmarks/train.py --device cpu --threads 1 --batch-size 2 --steps 3
    python benchmarks/train.py --config tiny --variant dipeptide --device cpu
    python benchmarks/train.py --largest --device cpu --batch-size 1 --steps 1 --warmup 0
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from baselines.reccrysformer.model import (  # noqa: E402
    ModelConfig,
    RecCrysFormer,
    count_parameters,
    grid_for_data,
    load_config,
)
from baselines.reccrysformer.train import TrainConfig, loss_terms, pick_device  # noqa: E402

__all__ = ["main", "PAPER_EXAMPLES_PER_S"]

#: 348,880 const-res training examples in 314 minutes on one RTX 6000 Ada (paper, Section 5).
PAPER_EXAMPLES_PER_S = 348_880 / (314 * 60)
#: Largest grid of the bundled const-res store (beyond the paper's 88x72x60 on every axis).
LARGEST_CONST_RES = (96, 80, 64)


def real_shapes(variant: str, entries: tuple[str, ...], n: int) -> list[tuple[int, int, int]]:
    """The ``n`` most common grid shapes of ``variant`` examples of bundled entries."""
    import collections

    import crysbench
    from crysbench.structures import bundled_entries

    paths = bundled_entries()
    count: collections.Counter = collections.Counter()
    for pid in entries:
        for ex in crysbench.generate_examples(paths[pid], variant):
            count[tuple(ex.grid_shape)] += 1
    return [s for s, _ in count.most_common(n)]


def _rss_gib() -> float:
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 2**20


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table and a JSON line."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="paper")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, help="torch CPU threads")
    ap.add_argument("--batch-size", type=int, help="default: 40 on CUDA, 2 on CPU")
    ap.add_argument("--steps", type=int, help="timed steps (default: 20 on CUDA, 3 on CPU)")
    ap.add_argument("--warmup", type=int, help="untimed steps per shape (default: 2 / 1)")
    ap.add_argument("--variant", default="const-res", help="grid shapes from this variant")
    ap.add_argument("--entries", default="1A8O,3HSY", help="bundled entries for the shapes")
    ap.add_argument("--shapes", type=int, default=4, help="number of distinct grid shapes")
    ap.add_argument("--residues", type=int, help="residues per example (default: segment length)")
    ap.add_argument("--attention", choices=["exact", "nystrom"])
    ap.add_argument("--largest", action="store_true",
                    help=f"only the largest const-res grid {LARGEST_CONST_RES}")  # fmt: skip
    ap.add_argument("--amp", action="store_true", help="bf16 autocast (CUDA)")
    ap.add_argument("--compile", action="store_true", help="torch.compile (CUDA)")
    args = ap.parse_args(argv)

    dev = pick_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = dev.type == "cuda"
    bs = args.batch_size or (40 if cuda else 2)
    steps = args.steps or (20 if cuda else 3)
    warmup = args.warmup if args.warmup is not None else (2 if cuda else 1)
    cfg = load_config(args.config)
    mc = dict(cfg["model"])
    if args.attention:
        mc["attention"] = args.attention
    tc = TrainConfig(cfg.get("train", {}))
    if cuda:
        torch.set_float32_matmul_precision(tc["matmul_precision"])
        torch.backends.cudnn.benchmark = True

    from crysbench.residue_density import residue_cubes
    from crysbench.variants import get_variant

    if args.largest:
        shapes = [LARGEST_CONST_RES]
    else:
        shapes = real_shapes(args.variant, tuple(args.entries.split(",")), args.shapes)
    mc["max_grid"] = list(grid_for_data(mc["max_grid"], shapes, int(mc.get("patch", 4))))
    n_res = args.residues or get_variant(args.variant).segment_length
    model = RecCrysFormer(ModelConfig.from_dict(mc)).to(dev).train()
    fwd = torch.compile(model) if (args.compile and cuda) else model
    opt = torch.optim.AdamW(model.parameters(), lr=tc["lr_start"], weight_decay=tc["weight_decay"])
    seq = ("ACDEFGHIKLMNPQRSTVWY" * 4)[:n_res]
    res = torch.from_numpy(residue_cubes(seq)).unsqueeze(0).repeat(bs, 1, 1, 1, 1).to(dev)
    gen = torch.Generator().manual_seed(0)
    batches = {
        s: (torch.randn(bs, 1, *s, generator=gen).to(dev),
            (0.1 * torch.randn(bs, 1, *s, generator=gen)).to(dev))
        for s in shapes
    }  # fmt: skip

    def step(shape) -> None:
        x, y = batches[shape]
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=args.amp and cuda):
            pred = fwd(x, res)
        loss = loss_terms(pred.float(), y, tc)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    for s in shapes:
        for _ in range(warmup):
            step(s)
    sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for i in range(steps):
        step(shapes[i % len(shapes)])
    sync()
    dt = time.perf_counter() - t0
    eps = bs * steps / dt
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else _rss_gib()
    cpu = platform.processor() or platform.machine()
    device_name = (
        torch.cuda.get_device_name() if cuda else f"CPU ({cpu}, {torch.get_num_threads()} threads)"
    )
    out = {
        "benchmark": "reccrysformer-train",
        "config": args.config,
        "attention": mc.get("attention"),
        "parameters": count_parameters(model),
        "device": device_name,
        "batch_size": bs,
        "residues": n_res,
        "grid_shapes": [list(s) for s in shapes],
        "amp": bool(args.amp and cuda),
        "compile": bool(args.compile and cuda),
        "timed_steps": steps,
        "seconds": round(dt, 3),
        "examples_per_s": round(eps, 3),
        "peak_memory_gib": round(peak, 3),
        "peak_memory_kind": "torch.cuda.max_memory_allocated" if cuda else "process max RSS",
        "anchor_examples_per_s": round(PAPER_EXAMPLES_PER_S, 2),
        "anchor": "paper: 314 min per const-res epoch (348,880 examples), 1x RTX 6000 Ada",
        "ratio_to_anchor": round(eps / PAPER_EXAMPLES_PER_S, 4),
    }
    print(f"RecCrysFormer training, config {args.config} ({out['parameters']:,} parameters, "
          f"{out['attention']} attention) on {device_name}")  # fmt: skip
    print(
        f"  batch {bs} x {n_res} residues, grids {', '.join('x'.join(map(str, s)) for s in shapes)}"
    )
    print(f"  this machine : {eps:8.2f} examples/s   peak memory {peak:.2f} GiB "
          f"({out['peak_memory_kind']})")  # fmt: skip
    print(f"  paper anchor : {PAPER_EXAMPLES_PER_S:8.2f} examples/s   (RTX 6000 Ada, 48 GiB)")
    print(f"  ratio        : {out['ratio_to_anchor']:.3f}x")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
