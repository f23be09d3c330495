"""Loading splits: items equal the generator, bucketed batches, torch loaders, exports."""

import gemmi
import numpy as np
import pytest

import crysbench
from crysbench.load import bucket_batches, load_split
from crysbench.store import StoreError


def test_items_match_generator(store_path, entries):
    ds = load_split(store_path, "all", normalize=None)
    gen = {ex.id: ex for ex in crysbench.generate_examples(entries["1A8O"], "dipeptide@2")}
    for eid in list(gen)[:5]:
        item = ds[eid]
        assert np.allclose(item["density"], gen[eid].density, atol=1e-6)
        assert np.allclose(item["patterson"], gen[eid].patterson, rtol=1e-5, atol=1e-3)
        assert item["grid_shape"] == gen[eid].grid_shape
        assert item["sequence"] == gen[eid].sequence
        assert len(item["atoms"]["xyz"]) == len(gen[eid].positions)


def test_normalization_scales_maps(store_path):
    raw = load_split(store_path, "train", normalize=None)
    norm = load_split(store_path, "train")
    s = raw.store.normalization["density"]["scale"]
    assert np.allclose(norm[0]["density"] * s, raw[0]["density"], rtol=1e-5)
    assert max(float(np.abs(norm[i]["density"]).max()) for i in range(len(norm))) <= 1.0 + 1e-6


def test_bucket_batches_cover_each_example_once(store_path):
    ds = load_split(store_path, "train")
    batches = bucket_batches(ds.buckets, 7, shuffle=True, seed=3)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(len(ds)))
    for b in batches:
        shapes = {ds.store.meta["grid_shape"][ds.rows[i]].tobytes() for i in b}
        assert len(shapes) == 1 and len(b) <= 7
    again = bucket_batches(ds.buckets, 7, shuffle=True, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))
    other = bucket_batches(ds.buckets, 7, shuffle=True, seed=3, epoch=1)
    assert any(not np.array_equal(a, b) for a, b in zip(batches, other))
    big = bucket_batches(ds.buckets, 7, min_bucket=5)
    assert all(
        len(ds.buckets[s]) >= 5
        for s in ds.buckets
        if any(set(ds.buckets[s]) & set(b.tolist()) for b in big)
    )


def test_dataloader_workers_see_same_data(store_path):
    torch = pytest.importorskip("torch")
    ds = load_split(store_path, "test", residues=True)
    a = {i: b for b in ds.dataloader(batch_size=8, shuffle=False) for i in [tuple(b["id"])]}
    b = {
        i: x
        for x in ds.dataloader(batch_size=8, shuffle=False, num_workers=2)
        for i in [tuple(x["id"])]
    }
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k]["patterson"], b[k]["patterson"])
        assert a[k]["patterson"].shape[1] == 1 and a[k]["patterson"].ndim == 5
        assert a[k]["residues"].shape[1:] == (2, 24, 24, 24)
    seen = [i for k in a for i in k]
    assert sorted(seen) == sorted(ds.ids)


def test_version_pin(store_path):
    with pytest.raises(StoreError, match="crysbench build --variant const-res@1"):
        load_split(store_path, "train", variant="const-res@1")
    assert len(load_split(store_path, "train", variant="dipeptide@2")) > 0


def test_unknown_id_and_split(store_path):
    ds = load_split(store_path, "test")
    with pytest.raises(KeyError, match="not in the test split"):
        ds["9XYZ_1.pd_1"]
    with pytest.raises(KeyError, match="unknown split"):
        load_split(store_path, "training")


def test_templates_attached(store_path, tmp_path):
    ds = load_split(store_path, "test", normalize=None)
    for i in ds.ids:
        shape = ds[i]["grid_shape"]
        np.save(tmp_path / f"{i}.npy", np.full(shape, 0.5, dtype=np.float32))
    t = load_split(store_path, "test", templates=tmp_path)
    assert float(t[0]["template"].mean()) == pytest.approx(0.5)


def test_export_roundtrips_through_gemmi(store_path, tmp_path):
    from crysbench.cli import main

    ds = load_split(store_path, "test", normalize=None)
    eid = ds.ids[0]
    assert main(["export", store_path, eid, "--to", str(tmp_path)]) == 0
    ex = ds.example(eid)
    m = gemmi.read_ccp4_map(str(tmp_path / f"{eid}.density.ccp4"))
    assert np.allclose(np.array(m.grid, copy=False), ex.density, atol=1e-6)
    assert m.grid.unit_cell.approx(ex.cell, 1e-3)
    mtz = gemmi.read_mtz_file(str(tmp_path / f"{eid}.mtz"))
    f = mtz.get_f_phi("FC", "PHIC")
    back = f.transform_f_phi_to_map(exact_size=ex.grid_shape)
    # gemmi's synthesis from the MTZ equals our density map
    assert np.corrcoef(np.array(back, copy=False).ravel(), ex.density.ravel())[0, 1] > 0.9999
    st = gemmi.read_structure(str(tmp_path / f"{eid}.pdb"))
    assert st[0].count_atom_sites() == len(ex.positions)
    assert (
        main(
            [
                "export",
                store_path,
                "--format",
                "hdf5",
                "--split",
                "test",
                "--to",
                str(tmp_path / "t.h5"),
            ]
        )
        == 0
    )
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "t.h5") as f:
        assert sorted(f.keys()) == sorted(ds.ids)
        assert np.allclose(f[eid]["density"][...], ex.density, atol=1e-6)


def test_torch_dataset_view(store_path):
    torch = pytest.importorskip("torch")
    ds = load_split(store_path, "test")
    tds = ds.torch_dataset()
    assert len(tds) == len(ds)
    item = tds[0]
    assert item["patterson"].shape == (1, *ds[0]["grid_shape"])
    assert torch.allclose(item["density"][0], torch.from_numpy(ds[0]["density"]))
