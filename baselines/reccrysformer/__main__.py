"""Command line: ``python -m baselines.reccrysformer train|recycle|predict ...``.

Examples
--------
Train the tiny config on the bundled dipeptide store, predict the test split and
score it::

    crysbench build --variant dipeptide --out dipeptide.zarr
    python -m baselines.reccrysformer train --config tiny --store dipeptide.zarr --out runs/tiny \\
        --threads 2
    python -m baselines.reccrysformer predict --run runs/tiny --store dipeptide.zarr \\
        --out runs/tiny/predictions
    crysbench evaluate runs/tiny/predictions --store dipeptide.zarr

Without a store, ``--bundled dipeptide@1`` generates the examples in memory from the
package's bundled PDB entries (:class:`crysbench.MemoryStore`), split as a build splits them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

__all__ = ["main", "make_parser"]


def _add_data(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--store", help="store built by `crysbench build` (train / valid / test)")
    g.add_argument("--bundled", metavar="VARIANT",
                   help="generate VARIANT in memory from the bundled PDB entries, split by "
                   "the recipe's rule (the splits of `crysbench build`)")  # fmt: skip
    p.add_argument("--limit", type=int, help="--bundled: at most N examples per entry")


def _add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda")
    p.add_argument("--threads", type=int, help="torch CPU threads (torch.set_num_threads)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def make_parser() -> argparse.ArgumentParser:
    """The argument parser (one subcommand per stage)."""
    parser = argparse.ArgumentParser(
        prog="python -m baselines.reccrysformer",
        description="RecCrysFormer reference model: train, recycle, predict.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("train", help="initial training run (Patterson + partial structures)")
    t.add_argument("--config", default="tiny", help="paper, dipeptide, tiny, or a TOML/JSON file")
    t.add_argument("--out", required=True, help="run folder (resumes when it has a checkpoint)")
    t.add_argument("--epochs", type=int, help="override [train] epochs")
    t.add_argument("--batch-size", type=int, help="override [train] batch_size")
    t.add_argument("--seed", type=int, help="override [train] seed")
    t.add_argument("--attention", choices=["exact", "nystrom"], help="override [model] attention")
    t.add_argument("--time-limit", type=float, help="stop after the epoch that passes N seconds")
    t.add_argument("--budget-epochs", type=int,
                   help="train only the first N epochs of the schedule, then finish (select on "
                   "valid, score test once): a compute budget counted in epochs")  # fmt: skip
    t.add_argument("--no-resume", action="store_true", help="ignore an existing checkpoint")
    t.add_argument("--compile", action="store_true", help="torch.compile (CUDA only)")
    t.add_argument("--no-amp", action="store_true", help="no bf16 autocast on CUDA")
    _add_data(t)
    _add_device(t)

    r = sub.add_parser("recycle", help="recycling run with a template-map input channel")
    r.add_argument("--init", required=True, help="previous run folder (weights + config)")
    r.add_argument("--out", required=True, help="new run folder")
    r.add_argument("--scheme", choices=["original", "modified"], default="modified",
                   help="original: p_refined 0.7, fresh weights; modified: p_refined 1/6, "
                   "template noise, weight transfer (default)")  # fmt: skip
    r.add_argument("--templates", help="folder of <id>.npy templates (physical units); "
                   "default: predict them with the --init model")  # fmt: skip
    r.add_argument("--refined", help="folder of <id>.npy refined maps (physical units)")
    r.add_argument("--config", help="training config (default: the --init run's)")
    r.add_argument("--epochs", type=int, help="default: [train] recycle_epochs (paper: 80)")
    r.add_argument("--seed", type=int)
    r.add_argument("--noise", type=float, default=0.05,
                   help="modified scheme: template noise std / the template's RMS")  # fmt: skip
    r.add_argument("--time-limit", type=float)
    r.add_argument("--compile", action="store_true")
    r.add_argument("--no-amp", action="store_true")
    _add_data(r)
    _add_device(r)

    f = sub.add_parser("refine", help="density-modify predictions into refined templates "
                       "(crysbench's open engine; for recycling's --refined)")  # fmt: skip
    f.add_argument("--templates", required=True, help="folder of <id>.npy predictions")
    f.add_argument("--out", required=True, help="folder for refined <id>.npy maps (resumes)")
    f.add_argument("--split", choices=["train", "valid", "test"], default="train",
                   help="which split to refine (default train: the success rule looks at "
                   "the truth, so refined test maps are not honest evaluation inputs)")  # fmt: skip
    f.add_argument("--jobs", type=int, default=1, help="worker processes")
    _add_data(f)
    _add_device(f)

    p = sub.add_parser("predict", help="write <out>/<id>.npy predictions for `crysbench evaluate`")
    p.add_argument("--run", required=True, help="run folder")
    p.add_argument("--out", required=True, help="predictions folder")
    p.add_argument("--split", choices=["test", "train", "valid"], default="test")
    p.add_argument("--templates", help="recycling models: template folder")
    p.add_argument("--refined", help="recycling models: refined maps replacing templates")
    p.add_argument("--batch-size", type=int, default=40)
    _add_data(p)
    _add_device(p)
    return parser


def _setup(args) -> None:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)


def _splits(args):
    from baselines.reccrysformer.data import open_splits

    if args.store:
        return open_splits(store=args.store)
    return open_splits(bundled=args.bundled, limit=args.limit)


def _cmd_train(args) -> int:
    from baselines.reccrysformer.model import ModelConfig, load_config
    from baselines.reccrysformer.train import TrainConfig, seconds_fmt, train

    cfg = load_config(args.config)
    mc = dict(cfg.get("model", {}))
    if args.attention:
        mc["attention"] = args.attention
    tc = TrainConfig(cfg.get("train", {}), epochs=args.epochs, batch_size=args.batch_size,
                     seed=args.seed)  # fmt: skip
    t0 = time.perf_counter()
    train_ds, valid_ds, test_ds = _splits(args)
    print(f"data: {len(train_ds)} train / {len(valid_ds)} valid / {len(test_ds)} test examples"
          f" ({time.perf_counter() - t0:.1f}s)", flush=True)  # fmt: skip
    _, hist = train(
        ModelConfig.from_dict(mc), tc, train_ds, valid_ds, args.out, test_ds=test_ds,
        device=args.device,
        resume=not args.no_resume, time_limit=args.time_limit, budget_epochs=args.budget_epochs,
        amp=False if args.no_amp else None, compile=args.compile,
        progress=False if args.no_progress else None,
        log=lambda s: print(s, flush=True),
        extra_meta={"data": args.store or f"bundled:{args.bundled}", "config": str(args.config)},
    )  # fmt: skip
    test = json.loads((Path(args.out) / "run.json").read_text()).get("test") or {}
    print(f"done in {seconds_fmt(time.perf_counter() - t0)} ({len(hist)} epochs): test PC "
          f"{test.get('pc', float('nan')):.4f}, amplitude PC {test.get('amp_pc', float('nan')):.4f}"
          f" (scored once, after training); weights in {args.out}")  # fmt: skip
    return 0


def _cmd_predict(args) -> int:
    from baselines.reccrysformer.predict import predict
    from baselines.reccrysformer.recycle import TemplateSource
    from baselines.reccrysformer.train import load_run, pick_device

    dev = pick_device(args.device)
    model, meta = load_run(args.run, dev)
    train_ds, valid_ds, test_ds = _splits(args)
    ds = {"test": test_ds, "train": train_ds, "valid": valid_ds}[args.split]
    scale = float(meta["scales"]["density"])
    tfn = None
    if model.cfg.in_channels == 2:
        if not args.templates:
            print("error: this is a recycling model; give --templates (and --refined)",
                  file=sys.stderr)  # fmt: skip
            return 2
        tfn = TemplateSource(args.templates, scale, refined=args.refined, p_refined=1.0,
                             cell_of=ds.cell).fn(train=False)  # fmt: skip
    res = predict(model, ds, args.out, scale, dev, args.batch_size, tfn)
    print(json.dumps({"predictions": str(args.out), **res}))
    return 0


def _cmd_refine(args) -> int:
    from baselines.reccrysformer.recycle import refine_templates

    train_ds, valid_ds, test_ds = _splits(args)
    ds = {"test": test_ds, "train": train_ds, "valid": valid_ds}[args.split]
    t0 = time.perf_counter()
    done = refine_templates(ds, args.templates, args.out, n_jobs=args.jobs,
                            progress=False if args.no_progress else None)  # fmt: skip
    secs = round(time.perf_counter() - t0, 1)
    print(json.dumps({"refined": len(done), "examples": len(ds), "split": args.split,
                      "out": str(args.out), "seconds": secs}))  # fmt: skip
    return 0


def _cmd_recycle(args) -> int:
    from baselines.reccrysformer.recycle import RecycleConfig, recycle

    rc = RecycleConfig(
        init=args.init, out=args.out, scheme=args.scheme, templates=args.templates,
        refined=args.refined, config=args.config, epochs=args.epochs, seed=args.seed,
        noise=args.noise, time_limit=args.time_limit, device=args.device,
        amp=False if args.no_amp else None, compile=args.compile,
        progress=False if args.no_progress else None,
    )  # fmt: skip
    train_ds, valid_ds, test_ds = _splits(args)
    recycle(rc, train_ds, valid_ds, test_ds)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = make_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    _setup(args)
    try:
        cmd = {"train": _cmd_train, "predict": _cmd_predict, "refine": _cmd_refine,
               "recycle": _cmd_recycle}[args.command]  # fmt: skip
        return cmd(args)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
