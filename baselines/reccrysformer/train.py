"""Training RecCrysFormer: loss, optimiser, OneCycle schedule, checkpoints, logs.

Loss (paper Section 3): ``0.9999·MSE − 5e-5·PC(e, e') − 5e-5·PC(|F(e)|, |F(e')|)``
with PC the Pearson correlation over each example's whole grid (averaged over the
batch) and ``F`` the 3-D FFT. AdamW (weight decay 3e-2) with a OneCycle schedule
from ``lr_start`` to ``lr_max`` (initial run 5e-4 → 1.4e-3). Batches hold one grid
shape each (size buckets) with an average size of 40.

Splits: the network trains on ``train``; every epoch it is scored on ``valid`` (the
curves in ``log.jsonl``), and the epoch with the best validation PC is the model kept.
The ``test`` split, when given, is read once, after the last epoch, with the selected
weights (``run.json`` ``"test"``): no choice can depend on it.

Checkpoints (``checkpoint.pt``, a dict of tensors and plain values, loadable with
``torch.load(weights_only=True)``) are written after every epoch; since the batch
order and every random draw are functions of (seed, epoch), a resumed run is
bit-identical to an uninterrupted one on the same device. The final weights are
``model.safetensors`` next to ``run.json`` (model config, scale constants, history).

Size: over 400 lines for one training loop with its checkpoints, resume and logs, kept
together so its order of operations (train, validate, select, test once) reads in one place.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from baselines.reccrysformer.data import batch_plan, iterate_batches
from baselines.reccrysformer.model import (
    ModelConfig,
    RecCrysFormer,
    count_parameters,
    grid_for_data,
)
from crysbench import metrics

__all__ = [
    "TrainConfig",
    "pearson",
    "amplitude_pearson",
    "loss_terms",
    "train",
    "make_optimizer",
    "evaluate_model",
    "save_run",
    "load_run",
    "pick_device",
]


class TrainConfig(dict):
    """Training hyper-parameters (the ``[train]`` table of a config) with defaults."""

    DEFAULTS = {
        "batch_size": 40,
        "epochs": 10,
        "recycle_epochs": 80,
        "lr_start": 5e-4,
        "lr_max": 1.4e-3,
        "recycle_lr_start": 2.5e-4,
        "recycle_lr_max": 8e-4,
        "weight_decay": 3e-2,
        "pct_start": 0.3,
        "final_div_factor": 1e2,
        "mse_weight": 0.9999,
        "pc_weight": 5e-5,
        "amp_pc_weight": 5e-5,
        "matmul_precision": "high",
        "eval_every": 1,
        "seed": 0,
    }

    def __init__(self, d: dict | None = None, **kw) -> None:
        super().__init__(self.DEFAULTS)
        self.update(d or {})
        self.update({k: v for k, v in kw.items() if v is not None})


def pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation per example over all but the first axis, shape=(B,).

    The evaluator's :func:`crysbench.metrics.pearson_torch`, on flattened examples.
    """
    return metrics.pearson_torch(a.flatten(1).float(), b.flatten(1).float(), dim=1)


def amplitude_pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of 3-D FFT amplitudes per example, shape=(B,)."""
    dims = (-3, -2, -1)
    fa = torch.fft.fftn(a.float(), dim=dims).abs()
    fb = torch.fft.fftn(b.float(), dim=dims).abs()
    return pearson(fa, fb)


def loss_terms(pred: torch.Tensor, target: torch.Tensor, cfg: dict | None = None) -> dict:
    """The training loss and its parts (batch means).

    Returns
    -------
    dict
        ``loss``, ``mse``, ``pc``, ``amp_pc`` (0-d tensors).
    """
    c = TrainConfig(cfg)
    mse = F.mse_loss(pred.float(), target.float())
    pc = pearson(pred, target).mean()
    amp = amplitude_pearson(pred, target).mean()
    loss = c["mse_weight"] * mse - c["pc_weight"] * pc - c["amp_pc_weight"] * amp
    return {"loss": loss, "mse": mse, "pc": pc, "amp_pc": amp}


def pick_device(name: str = "auto") -> torch.device:
    """``"auto"`` -> cuda when available, else cpu."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _autocast(device: torch.device, amp: bool):
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast(device.type, enabled=False)


def _to(batch: dict, device: torch.device) -> dict:
    return {k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v)
            for k, v in batch.items()}  # fmt: skip


TemplateFn = Callable[[dict, int, bool], "torch.Tensor | None"]


@torch.no_grad()
def evaluate_model(
    model: RecCrysFormer,
    ds,
    device: torch.device,
    batch_size: int = 40,
    template_fn: TemplateFn | None = None,
    amp: bool = False,
    on_batch: Callable[[dict, torch.Tensor], None] | None = None,
) -> dict:
    """Mean PC, amplitude PC and MSE (normalised units) over a split."""
    model.eval()
    pcs, amps, mses = [], [], []
    for batch in iterate_batches(ds, batch_size, shuffle=False):
        batch = _to(batch, device)
        tmpl = template_fn(batch, 0, False) if template_fn is not None else None
        with _autocast(device, amp):
            pred = model(batch["patterson"], batch.get("residues"), tmpl)
        pred = pred.float()
        pcs.append(pearson(pred, batch["density"]).cpu())
        amps.append(amplitude_pearson(pred, batch["density"]).cpu())
        mses.append(((pred - batch["density"]) ** 2).flatten(1).mean(1).cpu())
        if on_batch is not None:
            on_batch(batch, pred)
    if not pcs:
        return {"pc": float("nan"), "amp_pc": float("nan"), "mse": float("nan"), "n": 0}
    pc, amp_, mse = torch.cat(pcs), torch.cat(amps), torch.cat(mses)
    return {"pc": float(pc.mean()), "amp_pc": float(amp_.mean()), "mse": float(mse.mean()),
            "n": int(pc.numel())}  # fmt: skip


def make_optimizer(
    model: torch.nn.Module, train_cfg: dict, total_steps: int, recycling: bool = False
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.OneCycleLR]:
    """AdamW and its OneCycle schedule (paper Appendix G; SPEC §7).

    The schedule starts at ``lr_start`` (initial run 5e-4; recycling 2.5e-4), rises to
    ``lr_max`` (1.4e-3; 8e-4) over ``pct_start`` of the steps and anneals to
    ``lr_start / final_div_factor``: OneCycle's ``div_factor = lr_max / lr_start``.
    """
    tc = TrainConfig(train_cfg)
    lr_start = tc["recycle_lr_start"] if recycling else tc["lr_start"]
    lr_max = tc["recycle_lr_max"] if recycling else tc["lr_max"]
    opt = torch.optim.AdamW(model.parameters(), lr=lr_start, weight_decay=tc["weight_decay"])
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr_max, total_steps=max(int(total_steps), 1), pct_start=tc["pct_start"],
        div_factor=lr_max / lr_start, final_div_factor=tc["final_div_factor"],
    )  # fmt: skip
    return opt, sched


def _rng_state() -> dict:
    return {"torch": torch.get_rng_state()}


def save_run(out: Path, model: RecCrysFormer, meta: dict) -> None:
    """Write ``model.safetensors`` and ``run.json`` (config, scales, history)."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / "model.safetensors"))
    meta = dict(meta)
    meta["model"] = model.cfg.to_dict()
    meta["parameters"] = count_parameters(model)
    (out / "run.json").write_text(json.dumps(meta, indent=2, default=float))


def load_run(run: str | Path, device: str | torch.device = "cpu") -> tuple[RecCrysFormer, dict]:
    """Model and metadata of a finished run (``model.safetensors`` or ``checkpoint.pt``)."""
    run = Path(run)
    meta = json.loads((run / "run.json").read_text())
    model = RecCrysFormer(ModelConfig.from_dict(meta["model"]))
    if (run / "model.safetensors").exists():
        from safetensors.torch import load_file

        state = load_file(str(run / "model.safetensors"))
    else:
        state = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=True)["model"]
    model.load_state_dict(state)
    return model.to(device).eval(), meta


def train(
    model_cfg: ModelConfig,
    train_cfg: dict,
    train_ds,
    valid_ds,
    out: str | Path,
    test_ds=None,
    device: str | torch.device = "auto",
    resume: bool = True,
    time_limit: float | None = None,
    stop_after_epochs: int | None = None,
    budget_epochs: int | None = None,
    amp: bool | None = None,
    compile: bool = False,
    template_fn: TemplateFn | None = None,
    init_state: dict | None = None,
    recycling: bool = False,
    progress: bool | None = None,
    log: Callable[[str], None] = print,
    extra_meta: dict | None = None,
) -> tuple[RecCrysFormer, list[dict]]:
    """Train (or resume training) one run in ``out``.

    Parameters
    ----------
    model_cfg : ModelConfig
    train_cfg : dict
        See :class:`TrainConfig`.
    train_ds, valid_ds
        Training and validation splits (see :mod:`baselines.reccrysformer.data`);
        ``valid_ds`` gives the per-epoch curves and selects the epoch kept.
    out : path
        Run folder: ``checkpoint.pt``, ``log.jsonl``, ``model.safetensors``, ``run.json``.
    test_ds : optional
        Test split, read once after training with the selected weights (and never
        when the run stops early through ``stop_after_epochs``).
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``...
    resume : bool
        Continue from ``out/checkpoint.pt`` when present.
    time_limit : float, optional
        Stop after the first epoch that ends past this many seconds (the schedule
        is then cut short; the log says so).
    stop_after_epochs : int, optional
        Stop after this many epochs in total (simulates an interruption: no test score).
    budget_epochs : int, optional
        A compute budget: train only the first this-many epochs of the ``epochs``-epoch
        schedule (OneCycle cut short, said in the log and ``run.json``), then finish as a
        full run does (the best validation epoch kept, the test split scored once).
    amp : bool, optional
        bf16 autocast (default: on for CUDA).
    compile : bool
        ``torch.compile`` the model (CUDA only).
    template_fn : callable, optional
        ``template_fn(batch, epoch, training) -> (B,1,...)`` template maps (recycling).
    init_state : dict, optional
        Initial weights (recycling transfer); ignored when resuming.
    recycling : bool
        Use the recycling learning rates.

    Returns
    -------
    model, history
    """
    tc = TrainConfig(train_cfg)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dev = pick_device(str(device))
    amp = (dev.type == "cuda") if amp is None else amp
    if dev.type == "cuda":
        torch.set_float32_matmul_precision(tc["matmul_precision"])
    seed = int(tc["seed"])
    torch.manual_seed(seed)
    if init_state is None:  # position table sized for the largest training/valid bucket
        grid = grid_for_data(model_cfg.max_grid, [*train_ds.buckets, *valid_ds.buckets],
                             model_cfg.patch)  # fmt: skip
        if grid != tuple(model_cfg.max_grid):
            log(f"position table extended from {tuple(model_cfg.max_grid)} to {grid} "
                "(largest training/validation grid)")  # fmt: skip
            model_cfg = ModelConfig.from_dict({**model_cfg.to_dict(), "max_grid": list(grid)})
    model = RecCrysFormer(model_cfg)
    if init_state is not None:
        model.load_state_dict(init_state)
    model.to(dev)
    steps_per_epoch = len(batch_plan(train_ds, tc["batch_size"], True, seed, 0))
    epochs = int(tc["epochs"])
    opt, sched = make_optimizer(model, tc, epochs * steps_per_epoch, recycling)
    history: list[dict] = []
    best: dict = {"pc": -math.inf, "epoch": 0, "state": None}
    start_epoch = 0
    ckpt_path = out / "checkpoint.pt"
    if resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        torch.set_rng_state(ck["rng"]["torch"])
        start_epoch = int(ck["epoch"])
        history = json.loads(ck["history"])
        if "best_state" in ck:
            best = {"pc": float(ck["best_pc"]), "epoch": int(ck["best_epoch"]),
                    "state": ck["best_state"]}  # fmt: skip
        log(f"resumed from {ckpt_path} after epoch {start_epoch}")
    fwd = torch.compile(model) if (compile and dev.type == "cuda") else model
    n_par = count_parameters(model)
    log(f"RecCrysFormer: {n_par:,} parameters; {len(train_ds)} train / {len(valid_ds)} valid "
        f"examples; {steps_per_epoch} batches/epoch; device {dev}; the test split is scored "
        "once, after training")  # fmt: skip
    t_run = time.perf_counter()
    from tqdm.auto import tqdm

    interrupted = False
    last = epochs if budget_epochs is None else min(epochs, int(budget_epochs))
    for epoch in range(start_epoch, last):
        model.train()
        t0 = time.perf_counter()
        sums = {"loss": 0.0, "mse": 0.0, "pc": 0.0, "amp_pc": 0.0}
        n_ex = 0
        it = iterate_batches(train_ds, tc["batch_size"], True, seed, epoch)
        disable = (not progress) if progress is not None else None  # None: only on a TTY
        bar = tqdm(it, total=steps_per_epoch, desc=f"epoch {epoch + 1}/{epochs}",
                   disable=disable, leave=False)  # fmt: skip
        for batch in bar:
            batch = _to(batch, dev)
            tmpl = template_fn(batch, epoch, True) if template_fn is not None else None
            with _autocast(dev, amp):
                pred = fwd(batch["patterson"], batch.get("residues"), tmpl)
            terms = loss_terms(pred.float(), batch["density"], tc)
            opt.zero_grad(set_to_none=True)
            terms["loss"].backward()
            opt.step()
            sched.step()
            b = batch["patterson"].shape[0]
            n_ex += b
            vals = {k: float(terms[k].detach()) for k in sums}
            for k in sums:
                sums[k] += vals[k] * b
            bar.set_postfix(mse=f"{vals['mse']:.2e}", pc=f"{vals['pc']:.3f}")
        bar.close()
        train_s = time.perf_counter() - t0
        rec = {"epoch": epoch + 1, "lr": float(sched.get_last_lr()[0]),
               "train_seconds": round(train_s, 2),
               "examples_per_s": round(n_ex / max(train_s, 1e-9), 2)}  # fmt: skip
        rec.update({f"train_{k}": v / max(n_ex, 1) for k, v in sums.items()})
        if (epoch + 1) % int(tc["eval_every"]) == 0 or epoch + 1 == epochs:
            ev = evaluate_model(model, valid_ds, dev, tc["batch_size"], template_fn, amp)
            rec.update({"valid_pc": ev["pc"], "valid_amp_pc": ev["amp_pc"],
                        "valid_mse": ev["mse"]})  # fmt: skip
            if ev["n"] and ev["pc"] > best["pc"]:
                best = {"pc": ev["pc"], "epoch": epoch + 1,
                        "state": {k: v.detach().cpu().clone()
                                  for k, v in model.state_dict().items()}}  # fmt: skip
        history.append(rec)
        with open(out / "log.jsonl", "a") as fh:
            fh.write(json.dumps(rec) + "\n")
        log(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in rec.items()))  # fmt: skip
        ck = {
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "rng": _rng_state(),
            "epoch": epoch + 1,
            "history": json.dumps(history),
            "model_config": json.dumps(model_cfg.to_dict()),
        }
        if best["state"] is not None:
            ck.update(best_state=best["state"], best_pc=best["pc"], best_epoch=best["epoch"])
        torch.save(ck, ckpt_path)
        done = epoch + 1
        if stop_after_epochs is not None and done >= stop_after_epochs and done < epochs:
            log(f"stopping after epoch {done} (stop_after_epochs)")
            interrupted = True
            break
        if time_limit is not None and time.perf_counter() - t_run > time_limit and done < epochs:
            log(f"time limit {time_limit:.0f}s reached after epoch {done}/{epochs}; "
                "OneCycle schedule cut short")  # fmt: skip
            break
    if last < epochs and len(history) >= last:
        log(f"compute budget: stopped after epoch {last} of the {epochs}-epoch schedule "
            "(OneCycle cut short)")  # fmt: skip
    if best["state"] is not None:
        model.load_state_dict(best["state"])
        log(f"selected the epoch-{best['epoch']} weights (best validation PC {best['pc']:.4f})")
    test = None
    if test_ds is not None and not interrupted:
        ev = evaluate_model(model, test_ds, dev, tc["batch_size"], template_fn, amp)
        test = {"pc": ev["pc"], "amp_pc": ev["amp_pc"], "mse": ev["mse"], "n": ev["n"]}
        log(f"test split, scored once after training (epoch-{best['epoch']} weights): "
            f"PC {ev['pc']:.4f}, amplitude PC {ev['amp_pc']:.4f}, MSE {ev['mse']:.4g}")  # fmt: skip
    meta = {
        "scales": dict(getattr(train_ds, "scales", {})),
        "selected_epoch": best["epoch"],
        "valid_pc": best["pc"] if best["state"] is not None else None,
        "test": test,
        "train": dict(tc),
        "history": history,
        "epochs_done": len(history),
        "budget_epochs": budget_epochs,
        "device": str(dev),
        "train_seconds_total": round(sum(h["train_seconds"] for h in history), 1),
    }
    meta.update(extra_meta or {})
    save_run(out, model, meta)
    return model, history


def seconds_fmt(s: float) -> str:
    """``1h02m03s`` style duration."""
    s = int(math.ceil(s))
    h, r = divmod(s, 3600)
    m, s = divmod(r, 60)
    return (f"{h}h" if h else "") + f"{m:02d}m{s:02d}s"
