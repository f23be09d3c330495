"""RecCrysFormer against SPEC §7 and the paper (Appendices E, G): every number pinned,
clean validation (the test split is read once, at the end), grids of every size."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import crysbench  # noqa: E402
from baselines.reccrysformer import __main__ as cli  # noqa: E402
from baselines.reccrysformer.model import (  # noqa: E402
    ModelConfig,
    RecCrysFormer,
    grid_for_data,
    load_config,
)
from baselines.reccrysformer.recycle import (  # noqa: E402
    SCHEMES,
    TemplateSource,
    postprocess_refined,
    transfer_weights,
)
from baselines.reccrysformer.train import TrainConfig, make_optimizer, train  # noqa: E402

MICRO = dict(
    channels=4, partial_channels=4, dim=32, depth=1, heads=2, head_dim=16, ffn_dim=32,
    post_channels=4, max_grid=(32, 32, 32), max_residues=4, stem_kernel=3, post_kernel=3,
)  # fmt: skip
#: Largest grid of the bundled const-res store (9 of its 180 grids exceed 88x72x60).
LARGEST_CONST_RES = (96, 80, 64)


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def dipeptides():
    import crysbench
    from crysbench.structures import bundled_entries

    return list(crysbench.generate_examples(bundled_entries()["3JQH"], "dipeptide"))


# -- constants ------------------------------------------------------------------------------


def test_paper_config_is_appendix_g():
    cfg = load_config("paper")
    m, t = cfg["model"], cfg["train"]
    assert (m["channels"], m["partial_channels"], m["patch"]) == (10, 10, 4)
    assert (m["dim"], m["depth"], m["heads"], m["head_dim"], m["ffn_dim"]) == (512, 10, 8, 64, 2048)
    assert (m["stem_kernel"], m["post_kernel"], m["final_kernel"], m["post_blocks"]) == (7, 5, 3, 2)
    assert m["attention"] == "nystrom" and m["num_landmarks"] == 64
    assert m["max_grid"] == [88, 72, 60]
    assert (t["epochs"], t["recycle_epochs"], t["batch_size"]) == (110, 80, 40)
    assert (t["lr_start"], t["lr_max"]) == (5e-4, 1.4e-3)
    assert (t["recycle_lr_start"], t["recycle_lr_max"]) == (2.5e-4, 8e-4)
    assert t["weight_decay"] == 3e-2
    assert (t["mse_weight"], t["pc_weight"], t["amp_pc_weight"]) == (0.9999, 5e-5, 5e-5)
    assert t["matmul_precision"] == "high"
    d = TrainConfig()
    assert (d["lr_start"], d["lr_max"], d["weight_decay"], d["recycle_epochs"]) == (
        5e-4, 1.4e-3, 3e-2, 80)  # fmt: skip
    assert (d["recycle_lr_start"], d["recycle_lr_max"], d["batch_size"]) == (2.5e-4, 8e-4, 40)


@pytest.mark.parametrize("recycling, lo, hi", [(False, 5e-4, 1.4e-3), (True, 2.5e-4, 8e-4)])
def test_adamw_and_onecycle_divisors(recycling, lo, hi):
    model = torch.nn.Linear(2, 2)
    opt, sched = make_optimizer(model, TrainConfig(), 100, recycling=recycling)
    assert isinstance(opt, torch.optim.AdamW)
    assert opt.param_groups[0]["weight_decay"] == pytest.approx(3e-2)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(lo)  # div_factor = lr_max / lr_start
    assert max(lrs) == pytest.approx(hi, rel=1e-3) and int(np.argmax(lrs)) in (29, 30)
    assert lrs[-1] == pytest.approx(lo / 1e2, rel=0.05)  # final_div_factor 100


def test_recycling_schemes_and_appendix_e_constants():
    assert SCHEMES == {"original": (0.7, False, False), "modified": (1 / 6, True, True)}
    sig = inspect.signature(postprocess_refined).parameters
    consts = {k: sig[k].default for k in ("offset", "blur_b", "sigma", "weight")}
    assert consts == {"offset": 1.23, "blur_b": 25.0, "sigma": 1.25, "weight": 0.95}
    assert inspect.signature(transfer_weights).parameters["noise"].default == 0.01
    r = cli.make_parser().parse_args(["recycle", "--init", "a", "--out", "b", "--bundled", "x"])
    assert (r.scheme, r.noise, r.epochs) == ("modified", 0.05, None)


def test_refined_templates_are_drawn_one_time_in_six():
    ids = [f"X{i}" for i in range(1200)]
    tmpl = {i: np.zeros((4, 4, 4), np.float32) for i in ids}
    ref = {i: np.ones((4, 4, 4), np.float32) for i in ids}
    src = TemplateSource(tmpl, 1.0, refined=ref, p_refined=SCHEMES["modified"][0],
                         postprocess=False)  # fmt: skip
    batch = {"id": ids, "patterson": torch.zeros(len(ids), 1, 4, 4, 4)}
    frac = float(src(batch, 0, True).mean())
    assert frac == pytest.approx(1 / 6, abs=0.035)
    assert float(src(batch, 0, False).mean()) == 1.0  # evaluation: always the refined map


def test_template_noise_only_in_training_and_only_on_the_template():
    t = {"a": np.full((6, 6, 6), 2.0, np.float32)}
    src = TemplateSource(t, 1.0, noise=0.05)
    pat = torch.zeros(1, 1, 6, 6, 6)
    noisy = src({"id": ["a"], "patterson": pat}, 0, True)
    assert 0.07 < float(noisy.std()) < 0.13  # 0.05 x RMS 2
    assert float(src({"id": ["a"], "patterson": pat}, 0, False).std()) == 0
    assert float(pat.abs().max()) == 0  # the Patterson channel is never touched


def test_weight_transfer_noise_is_one_percent_of_each_tensor():
    torch.manual_seed(0)
    prev = RecCrysFormer(ModelConfig(**MICRO))
    new = RecCrysFormer(ModelConfig(**{**MICRO, "in_channels": 2}))
    state = transfer_weights(prev.state_dict(), new)
    w = prev.blocks[0].ff[0].weight.detach()
    ratio = float((state["blocks.0.ff.0.weight"] - w).std() / w.std())
    assert ratio == pytest.approx(0.01, rel=0.2)


def test_refined_templates_share_the_targets_value_distribution(dipeptides):
    store = crysbench.MemoryStore.from_examples(dipeptides[:8], "dipeptide", split="train")
    ds = crysbench.load_split(store, "train")
    scale = ds.scales["density"]
    for n in range(3):
        rho = ds.example(n).density
        target = rho / scale
        out = postprocess_refined(rho, ds.cell(n), scale=scale)
        assert abs(float(np.median(out)) - float(np.median(target))) < 0.05
        assert float(np.mean(out <= -0.9)) == 0.0  # the paper's min-max put ~90 % at -1
        assert 0.5 < float(out.max()) / float(target.max()) < 1.5
        assert abs(float(out.mean())) < 1e-3  # no F000, like the targets
        literal = postprocess_refined(rho, ds.cell(n))
        assert float(np.mean(literal <= -0.99)) > 0.5  # what the scale fixes


# -- grids ---------------------------------------------------------------------------------


def test_position_table_unchanged_within_the_paper_grid_and_extended_beyond():
    assert grid_for_data((88, 72, 60), [(48, 40, 36), (88, 72, 60)]) == (88, 72, 60)
    assert grid_for_data((88, 72, 60), [(90, 60, 36), LARGEST_CONST_RES]) == LARGEST_CONST_RES
    torch.manual_seed(0)
    model = RecCrysFormer(ModelConfig(**{**MICRO, "max_grid": (16, 16, 16)}))
    inside = model.position_table((3, 4, 2))
    torch.testing.assert_close(inside, model.pos[:, :, :3, :4, :2], rtol=0, atol=0)
    big = model.position_table((6, 4, 4))
    assert big.shape == (1, 32, 6, 4, 4)
    torch.testing.assert_close(big[:, :, 0], model.pos[:, :, 0, :4, :4])  # corners kept


def test_paper_config_step_on_the_largest_const_res_grid():
    """Forward + backward of the paper architecture's code path on a 96x80x64 grid.

    Narrowed (width 32, one layer) so it runs in seconds on CPU; the full paper config
    on the same grid is ``python benchmarks/train.py --largest``.
    """
    mc = {**load_config("paper")["model"], "dim": 32, "depth": 1, "heads": 2, "head_dim": 16,
          "ffn_dim": 32, "channels": 2, "partial_channels": 2, "post_channels": 2}  # fmt: skip
    mc["max_grid"] = list(grid_for_data(mc["max_grid"], [LARGEST_CONST_RES]))
    model = RecCrysFormer(ModelConfig.from_dict(mc))
    assert model.pos_grid == (24, 20, 16)
    x = torch.randn(1, 1, *LARGEST_CONST_RES)
    res = torch.rand(1, 15, 24, 24, 24)
    out = model(x, res)
    assert out.shape == (1, 1, *LARGEST_CONST_RES)
    out.square().mean().backward()
    assert model.pos.grad is not None and float(model.pos.grad[:, :, 22:].abs().sum()) > 0


# -- clean validation --------------------------------------------------------------------


class _Spy(crysbench.SplitDataset):
    """A split that records, in a shared event list, every batch read from it."""

    def __init__(self, store, split, events):
        super().__init__(store, split, residues=True)
        self.name, self.events = split, events

    def get_batch(self, positions, atoms=False):
        self.events.append(self.name)
        return super().get_batch(positions, atoms)


def test_training_reads_the_test_split_only_once_at_the_end(dipeptides, tmp_path):
    events: list[str] = []
    labels = {e.id: s for s, exs in (("train", dipeptides[:8]), ("valid", dipeptides[8:11]),
                                      ("test", dipeptides[11:14])) for e in exs}  # fmt: skip
    store = crysbench.MemoryStore.from_examples(dipeptides[:14], "dipeptide", split=labels)
    tr, va, te = (_Spy(store, s, events) for s in ("train", "valid", "test"))

    def log(msg: str) -> None:
        if msg.startswith("epoch="):
            events.append("epoch-end")

    cfg = ModelConfig(**MICRO)
    _, hist = train(cfg, {"epochs": 3, "batch_size": 4}, tr, va, tmp_path / "r", test_ds=te,
                    device="cpu", progress=False, log=log)  # fmt: skip
    last_epoch = max(i for i, e in enumerate(events) if e == "epoch-end")
    reads = [i for i, e in enumerate(events) if e == "test"]
    assert reads and min(reads) > last_epoch, "the test split was read during training"
    from baselines.reccrysformer.data import batch_plan

    assert len(reads) == len(batch_plan(te, 4, False, 0, 0))  # one pass, at the very end
    assert reads == list(range(reads[0], len(events)))
    assert all("valid_pc" in h and not any(k.startswith("test") for k in h) for h in hist)
    import json

    meta = json.loads((tmp_path / "r" / "run.json").read_text())
    assert meta["test"]["n"] == 3 and 1 <= meta["selected_epoch"] <= 3
    best = max(hist, key=lambda h: h["valid_pc"])
    assert meta["selected_epoch"] == best["epoch"] and meta["valid_pc"] == best["valid_pc"]


def test_epoch_budget_is_the_start_of_the_full_schedule_then_a_clean_finish(dipeptides, tmp_path):
    labels = {e.id: s for s, exs in (("train", dipeptides[:8]), ("valid", dipeptides[8:11]),
                                      ("test", dipeptides[11:14])) for e in exs}  # fmt: skip
    store = crysbench.MemoryStore.from_examples(dipeptides[:14], "dipeptide", split=labels)
    tr, va, te = (crysbench.load_split(store, s, residues=True) for s in ("train", "valid", "test"))
    cfg, tc = ModelConfig(**MICRO), {"epochs": 3, "batch_size": 4}
    quiet = dict(device="cpu", progress=False, log=lambda s: None)
    _, full = train(cfg, tc, tr, va, tmp_path / "full", test_ds=te, **quiet)
    logs: list[str] = []
    _, cut = train(cfg, tc, tr, va, tmp_path / "cut", test_ds=te, budget_epochs=1,
                   **{**quiet, "log": logs.append})  # fmt: skip
    drop = ("train_seconds", "examples_per_s")
    assert len(cut) == 1 and len(full) == 3
    assert {k: v for k, v in cut[0].items() if k not in drop} == {
        k: v for k, v in full[0].items() if k not in drop
    }  # the first epoch of the 3-epoch schedule, not a 1-epoch schedule
    import json

    meta = json.loads((tmp_path / "cut" / "run.json").read_text())
    assert meta["budget_epochs"] == 1 and meta["selected_epoch"] == 1
    assert meta["test"]["n"] == 3  # the test split is still scored, once
    assert any("stopped after epoch 1 of the 3-epoch schedule" in m for m in logs)
