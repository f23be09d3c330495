"""Loader at scale: batched/pruned and torch syntheses equal the reference synthesis,
the distributed bucket sampler partitions every epoch, and opening a store is lazy."""

from __future__ import annotations

import numpy as np
import pytest

import crysbench
from crysbench.load import load_split
from crysbench.maps import patterson_map, synthesize
from crysbench.sampler import rank_batches
from crysbench.synthesis import concat_reflections, power, synthesize_batch


def _close(a: np.ndarray, b: np.ndarray, rel: float = 2e-6) -> bool:
    return float(np.abs(a - b).max()) <= rel * float(np.abs(b).max())


@pytest.mark.parametrize("kind", ["const", "var"])
def test_batched_synthesis_equals_reference(kind, const_res_examples, var_res_examples):
    exs = const_res_examples if kind == "const" else var_res_examples
    shape = exs[0].grid_shape
    group = [e for e in exs if e.grid_shape == shape][:4] or exs[:1]
    refl = concat_reflections([e.hkl for e in group], [e.F for e in group])
    vols = np.array([e.cell.volume for e in group])
    dens = synthesize_batch(refl, shape, vols)
    pats = synthesize_batch(refl, shape, vols, power(refl.F))
    assert dens.dtype == np.float32 and dens.shape == (len(group), *shape)
    for i, e in enumerate(group):
        assert _close(dens[i], synthesize(e.hkl, e.F, shape, e.cell.volume))
        assert _close(pats[i], patterson_map(e.hkl, e.F, e.cell, shape))
    # a wrong-sign or wrong-axis synthesis would not pass
    assert not _close(dens[0], synthesize(group[0].hkl, np.conj(group[0].F), shape, 1.0))


def test_torch_synthesis_equals_numpy(const_res_examples, var_res_examples):
    torch = pytest.importorskip("torch")
    from crysbench.torchdata import synthesize_torch

    for exs in (const_res_examples, var_res_examples):
        shape = exs[0].grid_shape
        group = [e for e in exs if e.grid_shape == shape][:3]
        refl = concat_reflections([e.hkl for e in group], [e.F for e in group])
        counts = torch.tensor([len(e.hkl) for e in group])
        vols = torch.tensor([e.cell.volume for e in group], dtype=torch.float64)
        out = synthesize_torch(torch.from_numpy(refl.hkl), torch.from_numpy(refl.F), counts,
                               shape, vols).numpy()  # fmt: skip
        for i, e in enumerate(group):
            assert _close(out[i], synthesize(e.hkl, e.F, shape, e.cell.volume))


def test_device_loader_equals_host_loader(store_path):
    torch = pytest.importorskip("torch")
    ds = load_split(store_path, "train", residues=True)
    host = list(ds.dataloader(batch_size=6, shuffle=False))
    loader = ds.dataloader(batch_size=6, shuffle=False, device="cpu")
    loader.sampler.set_epoch(0)
    dev = list(loader)
    assert [b["id"] for b in host] == [b["id"] for b in dev]
    for a, b in zip(host, dev):
        for key in ("density", "patterson"):
            assert b[key].shape == a[key].shape and b[key].dtype == torch.float32
            assert _close(b[key].numpy(), a[key].numpy(), 5e-6)
        assert torch.equal(a["residues"], b["residues"])
        maps_bytes = a["density"].nbytes + a["patterson"].nbytes + a["residues"].nbytes
        assert 0 < b["host_bytes"] < maps_bytes


@pytest.mark.parametrize("world", [2, 4])
def test_distributed_sampler_partitions_every_epoch(world):
    rng = np.random.default_rng(0)
    sizes = rng.integers(1, 30, size=17)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    buckets = {(8, 8, 8 + 2 * i): np.arange(starts[i], starts[i + 1]) for i in range(17)}
    n = int(starts[-1])
    seen_epochs = []
    for epoch in range(3):
        per_rank = [rank_batches(buckets, 5, r, world, seed=11, epoch=epoch) for r in range(world)]
        assert len({len(p) for p in per_rank}) == 1  # equal number of batches per rank
        flat = [np.concatenate(p) for p in per_rank]
        allpos = np.concatenate(flat)
        assert len(allpos) == len(set(allpos.tolist()))  # disjoint across ranks
        n_batches = len(rank_batches(buckets, 5, 0, 1, seed=11, epoch=epoch))
        assert len(per_rank[0]) == n_batches // world  # only the remainder is dropped
        assert n - len(allpos) <= (world - 1) * 5
        again = [rank_batches(buckets, 5, r, world, seed=11, epoch=epoch) for r in range(world)]
        assert all(
            np.array_equal(x, y) for p, q in zip(per_rank, again) for x, y in zip(p, q)
        )  # deterministic from (seed, epoch)
        seen_epochs.append([x.tolist() for x in per_rank[0]])
    assert seen_epochs[0] != seen_epochs[1] != seen_epochs[2]  # reshuffled every epoch
    with pytest.raises(ValueError, match="not in"):
        rank_batches(buckets, 5, world, world)


def test_distributed_dataloader_ranks_are_disjoint(store_path):
    pytest.importorskip("torch")
    ds = load_split(store_path, "train")
    ids = []
    for rank in range(2):
        loader = ds.dataloader(batch_size=4, shuffle=True, seed=3, rank=rank, world_size=2)
        loader.sampler.set_epoch(5)
        ids.append([i for b in loader for i in b["id"]])
        assert all(len({ds[i]["grid_shape"] for i in b["id"][:2]}) == 1 for b in loader)
    assert set(ids[0]).isdisjoint(ids[1]) and len(ids[0]) > 0 and len(ids[1]) > 0


def test_store_open_reads_no_example_columns(store_path):
    store = crysbench.open_store(store_path)
    assert store.meta.loaded == []
    assert len(store) == len(store.meta["id"])
    ds = load_split(store, "test")
    assert set(store.meta.loaded) <= {"id", "split", "grid_shape"}
    assert ds._ids is None  # ids are built on first use
    first = ds.ids[0]
    assert store.index(first) == int(ds.rows[0]) and first in store
    assert "nope" not in store
    with pytest.raises(KeyError, match="is not in"):
        store.index("nope")
