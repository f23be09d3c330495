"""crysbench.torchdata: samplers and loaders of a split; it never imports crysbench.load."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import crysbench  # noqa: E402
from crysbench import torchdata  # noqa: E402


def test_torchdata_imports_no_load_at_run_time():
    tree = ast.parse(Path(torchdata.__file__).read_text())
    runtime = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert all(getattr(n, "module", "") != "crysbench.load" for n in runtime)


def test_equal_batches_sampler_and_loader(memory_store):
    ds = crysbench.load_split(memory_store, "train")
    sampler = torchdata.BucketBatchSampler(ds.buckets, 8, shuffle=True, seed=1, equal=True)
    batches = sampler.batches()
    assert sorted(i for b in batches for i in b) == list(range(len(ds)))
    assert len(batches) == sum(max(1, round(len(p) / 8)) for p in ds.buckets.values())
    assert max(len(b) for b in batches) <= 12  # up to 1.5 x batch_size, never more
    loader = ds.dataloader(batch_size=8, seed=1, equal_batches=True)
    first = next(iter(loader))
    assert first["id"] == [ds.ids[i] for i in batches[0]]
    assert first["patterson"].shape[:2] == (len(batches[0]), 1)


def test_reflection_batches_make_the_same_maps_on_the_device(memory_store):
    ds = crysbench.load_split(memory_store, "test")
    pos = next(iter(ds.buckets.values()))[:3]
    host = torchdata.BatchDataset(ds)[list(pos)]
    refl = torchdata.ReflectionBatchDataset(ds)[list(pos)]
    dev = torchdata.maps_on_device(refl, "cpu", ds.scales)
    np.testing.assert_allclose(dev["density"].numpy(), host["density"].numpy(), atol=2e-6)
    np.testing.assert_allclose(dev["patterson"].numpy(), host["patterson"].numpy(), atol=2e-6)


def test_placement_is_the_kernels_and_synthesis_places_there(memory_store):
    """The device indices are HalfSphereGrid's own, and the grid they fill is its place()."""
    ds = crysbench.load_split(memory_store, "test")
    pos = next(iter(ds.buckets.values()))[:3]
    refl = torchdata.ReflectionBatchDataset(ds)[list(pos)]
    hkl, counts, shape = refl["hkl"], refl["counts"], refl["grid_shape"]
    rows = np.repeat(np.arange(len(counts)), counts.numpy())
    kernel = crysbench.HalfSphereGrid(hkl.numpy(), shape, rows=rows)
    place = torchdata.placement(hkl, counts, shape, "cpu")
    for got, want in zip(place, kernel.flat_indices()):
        assert got.dtype == torch.int64 and np.array_equal(got.numpy(), want)
    F = refl["F"]
    maps = torchdata.synthesize_torch(hkl, F, counts, shape, refl["volume"], place)
    assert torch.equal(maps, torchdata.synthesize_torch(hkl, F, counts, shape, refl["volume"]))
    # the same half-complex grid as the kernel's place(), transformed by torch
    grid = torch.from_numpy(kernel.place(F.numpy()))  # (b, nu, nv, nw//2+1) complex64
    direct = torch.fft.irfftn(grid, s=tuple(shape), dim=(1, 2, 3))
    scale = (kernel.n / refl["volume"].to(torch.float64)).to(torch.float32).view(-1, 1, 1, 1)
    assert torch.equal(maps, direct * scale)
