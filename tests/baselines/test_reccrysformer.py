"""RecCrysFormer reference model (baselines/reccrysformer): architecture, loss, training."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import crysbench  # noqa: E402
from baselines.reccrysformer.attention import OneWayAttention, nystrom_attention  # noqa: E402
from baselines.reccrysformer.data import batch_plan, iterate_batches  # noqa: E402
from baselines.reccrysformer.model import (  # noqa: E402
    ModelConfig,
    RecCrysFormer,
    count_parameters,
    expected_parameters,
    load_config,
)
from baselines.reccrysformer.predict import predict  # noqa: E402
from baselines.reccrysformer.recycle import (  # noqa: E402
    TemplateSource,
    postprocess_refined,
    transfer_weights,
)
from baselines.reccrysformer.train import load_run, loss_terms, train  # noqa: E402
from crysbench.residue_density import residue_cubes  # noqa: E402

MICRO = dict(
    channels=4, partial_channels=4, dim=32, depth=1, heads=2, head_dim=16, ffn_dim=32,
    post_channels=4, max_grid=(32, 32, 32), max_residues=4,
)  # fmt: skip


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def micro(**kw) -> RecCrysFormer:
    torch.manual_seed(0)
    return RecCrysFormer(ModelConfig(**{**MICRO, **kw})).eval()


def residues(seq: str, b: int) -> torch.Tensor:
    return torch.from_numpy(residue_cubes(seq)).unsqueeze(0).repeat(b, 1, 1, 1, 1)


def split_of(examples, split: str = "train"):
    """A crysbench split of some examples (all in ``split``) with the residue input."""
    store = crysbench.MemoryStore.from_examples(examples, "dipeptide@1", split=split)
    return crysbench.load_split(store, split, residues=True)


def _shape(ds, pos: int) -> tuple:
    return tuple(int(x) for x in ds.store.meta["grid_shape"][ds.rows[pos]])


@pytest.fixture(scope="module")
def dipeptides():
    """Dipeptide examples of the smallest bundled entry (3JQH, 22 examples)."""
    from crysbench.structures import bundled_entries

    return list(crysbench.generate_examples(bundled_entries()["3JQH"], "dipeptide@1"))


# -- architecture ---------------------------------------------------------------------------


@pytest.mark.parametrize("attention", ["exact", "nystrom"])
@pytest.mark.parametrize(
    "grid", [(24, 18, 16), (20, 16, 12), (30, 24, 18), (18, 18, 16), (16, 16, 16), (15, 9, 7)]
)
def test_output_shape_equals_input_grid(grid, attention):
    model = micro(attention=attention, num_landmarks=8)
    x = torch.randn(2, 1, *grid)
    with torch.no_grad():
        y = model(x, residues("GW", 2))
        y0 = model(x)  # no partial structures
    assert y.shape == x.shape and y0.shape == x.shape
    assert torch.isfinite(y).all() and y.abs().max() < 1


def test_bucket_shapes_of_real_examples(dipeptides):
    model = micro()
    for shape in sorted({ex.grid_shape for ex in dipeptides}):
        with torch.no_grad():
            y = model(torch.zeros(1, 1, *shape), residues("AG", 1))
        assert tuple(y.shape[2:]) == shape


def test_grid_larger_than_position_table_is_served():
    model = micro(max_grid=(16, 16, 16))
    out = model(torch.randn(1, 1, 24, 16, 16), residues("AW", 1))
    assert out.shape == (1, 1, 24, 16, 16)


def test_one_way_attention_partial_tokens_are_not_updated(monkeypatch):
    model = micro(depth=2)
    x = torch.randn(2, 1, 16, 12, 12)
    r = residues("WK", 2)
    with torch.no_grad():
        u = model.encode_residues(r)
        r2 = r.clone()
        r2[:, 0] = torch.from_numpy(residue_cubes("G"))[0]  # change residue 0 only
        u2 = model.encode_residues(r2)
    n_sub = (24 // 4) ** 3
    assert not torch.allclose(u[:, :n_sub], u2[:, :n_sub])
    torch.testing.assert_close(u[:, n_sub:], u2[:, n_sub:], rtol=0, atol=0)

    # every layer sees the same partial-structure tokens: they are never updated
    seen = []
    from baselines.reccrysformer import model as model_mod

    orig = model_mod.Block.forward

    def spy(self, x, u, u_mask=None):
        seen.append(u.clone())
        return orig(self, x, u, u_mask)

    monkeypatch.setattr(model_mod.Block, "forward", spy)
    with torch.no_grad():
        y = model(x, r)
        y2 = model(x, r2)
    assert len(seen) == 4
    for s in seen[:2]:
        torch.testing.assert_close(s, u, rtol=0, atol=0)
    assert not torch.allclose(y, y2)  # the map tokens do read the partial structures


def test_attention_layer_only_returns_map_tokens():
    attn = OneWayAttention(32, 2, 16).eval()
    x, u = torch.randn(1, 10, 32), torch.randn(1, 7, 32)
    with torch.no_grad():
        out = attn(x, u)
        # appending a map token changes nothing for the others only through attention keys;
        # the partial tokens never get an output row
        assert out.shape == (1, 10, 32)
        # a masked-out partial token is ignored
        m = torch.tensor([[True] * 6 + [False]])
        torch.testing.assert_close(attn(x, u, m), attn(x, u[:, :6]), rtol=1e-5, atol=1e-6)


def test_nystrom_approximates_exact_attention():
    torch.manual_seed(0)
    q, k = torch.randn(1, 2, 200, 16) * 0.3, torch.randn(1, 2, 300, 16) * 0.3
    v = torch.randn(1, 2, 300, 16)
    exact = torch.nn.functional.scaled_dot_product_attention(q, k, v)
    approx = nystrom_attention(q, k, v, num_landmarks=64)
    assert approx.shape == exact.shape
    assert float((approx - exact).norm() / exact.norm()) < 0.3
    # few keys: falls back to exact attention
    torch.testing.assert_close(nystrom_attention(q[:, :, :8], k[:, :, :8], v[:, :, :8], 64),
                               torch.nn.functional.scaled_dot_product_attention(
                                   q[:, :, :8], k[:, :, :8], v[:, :, :8]))  # fmt: skip


def test_circular_padding_whole_patch_shift_equivariance():
    model = micro(depth=2)
    with torch.no_grad():
        model.pos.zero_()  # absolute positions are the only non-periodic part
        for _ in range(3):  # non-trivial BatchNorm statistics
            model.train()(torch.randn(2, 1, 16, 12, 8), residues("AW", 2))
        model.eval()
        x = torch.randn(1, 1, 16, 12, 8)
        r = residues("FS", 1)
        y = model(x, r)
        for shift in [(4, 0, 0), (0, 8, 4), (12, 4, 4)]:
            ys = model(torch.roll(x, shift, dims=(2, 3, 4)), r)
            torch.testing.assert_close(ys, torch.roll(y, shift, dims=(2, 3, 4)),
                                       rtol=1e-4, atol=1e-5)  # fmt: skip
    # and the learned position table breaks it, as it should (absolute frame)
    model2 = micro()
    with torch.no_grad():
        y = model2(x, r)
        assert not torch.allclose(model2(torch.roll(x, 4, dims=2), r), torch.roll(y, 4, dims=2))


def test_full_config_parameter_count():
    cfg = ModelConfig(**load_config("paper")["model"])
    assert (cfg.dim, cfg.depth, cfg.heads, cfg.head_dim, cfg.ffn_dim) == (512, 10, 8, 64, 2048)
    assert (cfg.channels, cfg.stem_kernel, cfg.patch, cfg.num_landmarks) == (10, 7, 4, 64)
    model = RecCrysFormer(cfg)
    parts = expected_parameters(cfg)
    # one transformer layer by hand: 3 LayerNorms, W_q/k/v, W_k'/v', W_o, FFN
    d, ff = 512, 2048
    layer = 3 * 2 * d + (d * 3 * d + 3 * d) + (d * 2 * d + 2 * d) + (d * d + d)
    layer += (d * ff + ff) + (ff * d + d)
    assert layer == 3_678_720
    assert parts["transformer"] == 10 * layer
    assert parts["stem"] == 10 * 7**3 + 10
    assert parts["pos"] == 512 * 22 * 18 * 15  # 88x72x60 grid in 4³ patches
    assert count_parameters(model) == parts["total"] == 40_990_263
    dip = RecCrysFormer(ModelConfig(**load_config("dipeptide")["model"]))
    assert count_parameters(dip) == expected_parameters(dip.cfg)["total"]
    tiny = RecCrysFormer(ModelConfig(**load_config("tiny")["model"]))
    assert count_parameters(tiny) == expected_parameters(tiny.cfg)["total"]


# -- loss -----------------------------------------------------------------------------------


def _np_pc(a, b):
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def test_loss_terms_against_hand_computation():
    rng = np.random.default_rng(0)
    pred = rng.normal(size=(3, 1, 6, 4, 5)).astype(np.float32)
    target = (0.5 * pred + rng.normal(size=pred.shape)).astype(np.float32)
    t = loss_terms(torch.from_numpy(pred), torch.from_numpy(target))
    mse = float(np.mean((pred.astype(np.float64) - target) ** 2))
    pc = np.mean([_np_pc(pred[i], target[i]) for i in range(3)])
    amp = np.mean([_np_pc(np.abs(np.fft.fftn(pred[i, 0])), np.abs(np.fft.fftn(target[i, 0])))
                   for i in range(3)])  # fmt: skip
    assert float(t["mse"]) == pytest.approx(mse, rel=1e-5)
    assert float(t["pc"]) == pytest.approx(pc, abs=1e-5)
    assert float(t["amp_pc"]) == pytest.approx(amp, abs=1e-5)
    assert float(t["loss"]) == pytest.approx(0.9999 * mse - 5e-5 * pc - 5e-5 * amp, rel=1e-5)
    same = loss_terms(torch.from_numpy(target), torch.from_numpy(target))
    assert float(same["pc"]) == pytest.approx(1.0, abs=1e-5)
    assert float(same["loss"]) == pytest.approx(-1e-4, abs=1e-7)


# -- training -------------------------------------------------------------------------------


STEPS = 150


def test_tiny_model_overfits_one_batch(dipeptides):
    shapes = [e.grid_shape for e in dipeptides]
    shape = min((s for s in set(shapes) if shapes.count(s) >= 2), key=np.prod)
    split = split_of([e for e in dipeptides if e.grid_shape == shape][:2])
    batch = next(iterate_batches(split, 2, shuffle=False))
    torch.manual_seed(0)
    fast = {"dim": 64, "ffn_dim": 64, "stem_kernel": 3, "post_kernel": 3}  # CPU budget
    model = RecCrysFormer(ModelConfig(**{**MICRO, **fast})).train()
    opt = torch.optim.AdamW(model.parameters(), lr=5e-3, weight_decay=0.0)
    first = None
    for _ in range(STEPS):
        t = loss_terms(model(batch["patterson"], batch["residues"]), batch["density"])
        opt.zero_grad()
        t["loss"].backward()
        opt.step()
        first = float(t["mse"].detach()) if first is None else first
    model.eval()
    with torch.no_grad():
        t = loss_terms(model(batch["patterson"], batch["residues"]), batch["density"])
    assert float(t["mse"]) < 0.1 * first
    assert float(t["pc"]) > 0.9


def _splits(dipeptides):
    """train (10), valid (3) and test (3) examples of 3JQH, one in-memory store."""
    labels = {ex.id: "train" for ex in dipeptides[:10]}
    labels |= {ex.id: "test" for ex in dipeptides[10:13]}
    labels |= {ex.id: "valid" for ex in dipeptides[13:16]}
    store = crysbench.MemoryStore.from_examples(dipeptides[:16], "dipeptide@1", split=labels)
    return tuple(crysbench.load_split(store, s, residues=True) for s in ("train", "valid", "test"))


def test_average_batch_size_and_determinism(dipeptides):
    ds = split_of(dipeptides)
    plan = batch_plan(ds, 4, True, 0, 3)
    assert sorted(np.concatenate(plan).tolist()) == list(range(len(ds)))
    assert all(len({_shape(ds, i) for i in b}) == 1 for b in plan)
    assert [b.tolist() for b in plan] == [b.tolist() for b in batch_plan(ds, 4, True, 0, 3)]
    # each bucket of n is cut into max(1, round(n / 4)) nearly equal batches (average 4)
    for shape, pos in ds.buckets.items():
        sizes = sorted(len(b) for b in plan if _shape(ds, int(b[0])) == shape)
        assert len(sizes) == max(1, round(len(pos) / 4)) and sizes[-1] - sizes[0] <= 1
    batches = list(iterate_batches(ds, 4, True, 0, 3))
    assert [b["id"] for b in batches] == [[ds.ids[i] for i in p] for p in plan]
    first = ds.get_batch(plan[0])  # the loader's tensors are the split's own arrays
    assert np.array_equal(batches[0]["density"][:, 0].numpy(), first["density"])
    assert np.array_equal(batches[0]["residues"].numpy(), first["residues"])


def test_resumed_run_equals_uninterrupted(dipeptides, tmp_path):
    train_ds, _, test_ds = _splits(dipeptides)
    cfg = ModelConfig(**{**MICRO, "stem_kernel": 3, "post_kernel": 3})
    tc = {"epochs": 2, "batch_size": 4}
    quiet = dict(progress=False, log=lambda s: None)
    m_full, h_full = train(cfg, tc, train_ds, test_ds, tmp_path / "a", device="cpu", **quiet)
    train(cfg, tc, train_ds, test_ds, tmp_path / "b", device="cpu", stop_after_epochs=1, **quiet)
    m_res, h_res = train(cfg, tc, train_ds, test_ds, tmp_path / "b", device="cpu", **quiet)
    sa, sb = m_full.state_dict(), m_res.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], rtol=0, atol=0, msg=k)
    drop = ("train_seconds", "examples_per_s")
    strip = [{k: v for k, v in h.items() if k not in drop} for h in h_full]
    assert strip == [{k: v for k, v in h.items() if k not in drop} for h in h_res]
    # checkpoints load with weights_only=True; finished runs reload from safetensors
    ck = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)
    assert ck["epoch"] == 2
    model, meta = load_run(tmp_path / "b")
    assert meta["epochs_done"] == 2 and meta["scales"] == train_ds.scales
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, sb[k], rtol=0, atol=0)


def test_predict_writes_evaluator_format(dipeptides, tmp_path):
    train_ds, _, test_ds = _splits(dipeptides)
    model = micro()
    res = predict(model, test_ds, tmp_path / "pred", train_ds.scales["density"])
    assert res["n"] == len(test_ds)
    with torch.no_grad():
        b = next(iterate_batches(test_ds, 40, shuffle=False))
        y = model(b["patterson"], b["residues"])[0, 0].numpy() * train_ds.scales["density"]
    for ex in dipeptides[10:13]:
        arr = np.load(tmp_path / "pred" / f"{ex.id}.npy")
        assert arr.dtype == np.float32 and arr.shape == ex.grid_shape
    np.testing.assert_allclose(np.load(tmp_path / "pred" / f"{b['id'][0]}.npy"), y, rtol=1e-5,
                               atol=1e-6)  # fmt: skip


# -- recycling ------------------------------------------------------------------------------


def test_weight_transfer_keeps_half_of_first_conv():
    prev = micro()
    torch.manual_seed(1)
    new = RecCrysFormer(ModelConfig(**{**MICRO, "in_channels": 2}))
    fresh = new.stem.weight.detach().clone()
    state = transfer_weights(prev.state_dict(), new, noise=0.0)
    torch.testing.assert_close(state["stem.weight"][:, :1], prev.stem.weight)
    torch.testing.assert_close(state["stem.weight"][:, 1:], fresh[:, 1:])
    torch.testing.assert_close(state["blocks.0.attn.qkv.weight"], prev.blocks[0].attn.qkv.weight)
    noisy = transfer_weights(prev.state_dict(), new, noise=0.01)
    diff = noisy["embed.weight"] - prev.embed.weight.detach()
    assert 0 < float(diff.std()) < 0.05 * float(prev.embed.weight.detach().std())
    new.load_state_dict(noisy)


def test_templates_refined_substitution_and_noise(dipeptides):
    ds = split_of(dipeptides[:6])
    ids = ds.ids
    scale = ds.scales["density"]
    templates = {i: np.full(_shape(ds, n), 0.5 * scale, np.float32) for n, i in enumerate(ids)}
    rho0 = ds.example(ids[0]).density
    refined = {ids[0]: rho0}
    src = TemplateSource(templates, scale, refined=refined, p_refined=0.5, noise=0.1,
                         cell_of=ds.cell)  # fmt: skip
    batch = {"id": [ids[0]], "patterson": torch.zeros(1, 1, *_shape(ds, 0))}
    ev = src(batch, 0, training=False)  # evaluation: the refined map, no noise
    np.testing.assert_allclose(ev[0, 0].numpy(), postprocess_refined(rho0, ds.cell(ids[0]),
                               scale=scale))  # fmt: skip
    assert -0.5 < float(ev.min()) < 0 < float(ev.max()) < 1.5  # the dataset scale, not [-1, 1]
    draws = [src(batch, e, training=True) for e in range(20)]
    used_refined = [bool((d - ev).abs().max() < 0.5) for d in draws]
    assert 0 < sum(used_refined) < 20  # substitution with probability p_refined
    torch.testing.assert_close(src(batch, 3, True), draws[3])  # a function of (seed, epoch, id)
    b1 = {"id": [ids[1]], "patterson": torch.zeros(1, 1, *_shape(ds, 1))}
    t = src(b1, 0, training=True)[0, 0].numpy()
    assert abs(t.mean() - 0.5) < 0.01 and 0.03 < t.std() < 0.07  # noise 0.1 x RMS 0.5


def test_refine_templates_with_open_density_modification(dipeptides, tmp_path):
    from baselines.reccrysformer.recycle import refine_templates

    exs = {ex.id: ex for ex in dipeptides[:3]}

    class Split:
        ids = list(exs)

        @staticmethod
        def example(example_id):
            return exs[example_id]

    rng = np.random.default_rng(0)
    noisy = {i: ex.density + ex.density.std() * rng.standard_normal(ex.grid_shape)
             for i, ex in exs.items()}  # fmt: skip
    done = refine_templates(Split, noisy, tmp_path)
    assert done  # a PC ≈ 0.7 start is refined by density modification
    for i in done:
        rho = np.load(tmp_path / f"{i}.npy")
        assert rho.shape == exs[i].grid_shape
        assert _np_pc(rho, exs[i].density) > _np_pc(noisy[i], exs[i].density) + 0.1
    log = (tmp_path / "refine.jsonl").read_text().splitlines()
    assert len(log) == 3  # every outcome recorded, refined or not
    # A second call resumes from the log: nothing is recomputed, the answer is the same.
    assert refine_templates(Split, {}, tmp_path) == done
    assert len((tmp_path / "refine.jsonl").read_text().splitlines()) == 3


def test_command_line_train_predict_recycle(dipeptides, tmp_path, monkeypatch, capsys):
    from baselines.reccrysformer import __main__ as cli
    from baselines.reccrysformer import data

    train_ds, valid_ds, test_ds = _splits(dipeptides)
    monkeypatch.setattr(data, "open_splits", lambda **kw: (train_ds, valid_ds, test_ds))
    cfg = tmp_path / "micro.json"
    model = {**MICRO, "stem_kernel": 3, "post_kernel": 3, "max_grid": [32, 32, 32]}
    cfg.write_text(
        __import__("json").dumps(
            {"model": model, "train": {"epochs": 1, "recycle_epochs": 1, "batch_size": 8}}
        )
    )
    run, rec = tmp_path / "run", tmp_path / "rec"
    common = ["--bundled", "dipeptide", "--device", "cpu", "--no-progress"]
    assert cli.main(["train", "--config", str(cfg), "--out", str(run), *common]) == 0
    assert (run / "model.safetensors").exists() and (run / "log.jsonl").exists()
    assert cli.main(["predict", "--run", str(run), "--out", str(tmp_path / "p"), *common]) == 0
    assert len(list((tmp_path / "p").glob("*.npy"))) == len(test_ds)
    capsys.readouterr()
    refined = tmp_path / "refined"
    argv = ["refine", "--templates", str(tmp_path / "p"), "--out", str(refined), "--split", "test"]
    assert cli.main([*argv, *common]) == 0
    summary = __import__("json").loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["examples"] == len(test_ds) and summary["split"] == "test"
    assert len((refined / "refine.jsonl").read_text().splitlines()) == len(test_ds)
    assert len(list(refined.glob("*.npy"))) == summary["refined"]
    assert cli.main(["recycle", "--init", str(run), "--out", str(rec), *common[:-1]]) == 0
    _, meta = load_run(rec)
    assert meta["model"]["in_channels"] == 2 and meta["recycling"]["scheme"] == "modified"
    n = len(train_ds) + len(valid_ds) + len(test_ds)
    assert len(list((rec / "templates").glob("*.npy"))) == n and meta["epochs_done"] == 1
    assert cli.main(["predict", "--run", str(rec), "--out", str(tmp_path / "q"), *common]) == 2
    assert "give --templates" in capsys.readouterr().err
