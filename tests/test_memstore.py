"""crysbench.memstore.MemoryStore behaves as the zarr store built from the same entries."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest

import crysbench
from crysbench.memstore import MemoryStore
from crysbench.storelike import StoreLike


@pytest.fixture(scope="module")
def zarr_store(store_path):
    return crysbench.open_store(store_path)


def test_both_are_store_like(zarr_store, memory_store):
    assert isinstance(zarr_store, StoreLike) and isinstance(memory_store, StoreLike)
    assert not isinstance(object(), StoreLike)


def test_same_ids_splits_order_scales_fingerprint(zarr_store, memory_store):
    assert memory_store.variant == zarr_store.variant
    assert len(memory_store) == len(zarr_store) > 100
    assert memory_store.ids() == zarr_store.ids()  # store order: split, bucket, id
    for split in ("train", "valid", "test", "train+valid", "all"):
        assert memory_store.ids(split) == zarr_store.ids(split)
        assert np.array_equal(memory_store.positions(split), zarr_store.positions(split))
    assert memory_store.ids("train") and memory_store.ids("test")
    assert memory_store.normalization == zarr_store.normalization
    assert memory_store.fingerprint == zarr_store.fingerprint
    for key, col in memory_store.meta.items():
        assert np.array_equal(col, np.asarray(zarr_store.meta[key])), key


def test_same_reflections_atoms_and_records(zarr_store, memory_store):
    rows = np.arange(0, len(zarr_store), 37)
    for a, b in zip(memory_store.read_reflections(rows), zarr_store.read_reflections(rows)):
        assert all(np.array_equal(x, y) and x.dtype == y.dtype for x, y in zip(a, b))
    for row in rows[:6]:
        ma, za = memory_store.read_atoms(row), zarr_store.read_atoms(row)
        assert ma.keys() == za.keys()
        assert all(np.array_equal(ma[k], za[k]) for k in ma)
        me, ze = memory_store.get(int(row)), zarr_store.get(int(row))
        assert type(me) is type(ze) is crysbench.Example
        for f in dataclasses.fields(crysbench.Example):
            u, v = getattr(me, f.name), getattr(ze, f.name)
            if f.name == "cell":
                assert u.parameters == v.parameters
            elif isinstance(u, np.ndarray):
                assert np.array_equal(u, v), f.name
            else:
                assert u == v, f.name
        assert me.split in ("train", "valid", "test") and me.id in memory_store


@pytest.mark.parametrize("split", ["train", "test"])
def test_load_split_gives_the_same_batches(zarr_store, memory_store, split):
    a = crysbench.load_split(memory_store, split, residues=True)
    b = crysbench.load_split(zarr_store, split, residues=True)
    assert a.ids == b.ids and a.scales == b.scales
    assert {k: v.tolist() for k, v in a.buckets.items()} == {
        k: v.tolist() for k, v in b.buckets.items()
    }
    shape = max(a.buckets, key=lambda s: len(a.buckets[s]))
    x, y = a.get_batch(a.buckets[shape]), b.get_batch(b.buckets[shape])
    assert x.keys() == y.keys()
    for k in x:
        assert np.array_equal(np.asarray(x[k]), np.asarray(y[k])), k
    assert a.cell(a.ids[0]) == b.cell(b.ids[0]) == tuple(zarr_store.get(a.ids[0]).cell.parameters)


def test_split_dataset_of_a_memory_store_pickles_with_its_data(memory_store):
    ds = crysbench.load_split(memory_store, "test")
    back = pickle.loads(pickle.dumps(ds))
    assert back.ids == ds.ids
    assert np.array_equal(back[0]["density"], ds[0]["density"])


def test_explicit_splits_and_errors(store_examples):
    exs = store_examples[:5]
    all_test = MemoryStore.from_examples(exs, "dipeptide@2", split="test")
    assert sorted(all_test.ids("test")) == sorted(e.id for e in exs)
    assert all_test.ids("train") == []
    assert all_test.normalization["density"]["source_split"] == "all"
    by_id = MemoryStore.from_examples(exs, "dipeptide@2", split={exs[0].id: "valid"} | {
        e.pdb_id: "train" for e in exs})  # fmt: skip
    assert by_id.ids("valid") == [exs[0].id]
    with pytest.raises(KeyError, match="unknown split"):
        all_test.positions("training")
    with pytest.raises(KeyError, match="not in"):
        all_test.index("9XYZ_1.pd_1")
    with pytest.raises(ValueError, match="not unique"):
        MemoryStore(exs + exs[:1], ["test"] * 6, "dipeptide@2")
    with pytest.raises(crysbench.StoreError, match="not const-res@1"):
        crysbench.load_split(all_test, "test", variant="const-res@1")


def test_memory_store_is_scored_in_process(memory_store):
    ids = memory_store.ids("test")[:3]
    sub = MemoryStore.from_examples([memory_store.get(i) for i in ids], "dipeptide@2", "test")
    truth = {i: sub.get(i).density for i in ids}
    res = crysbench.evaluate(truth, sub, engine="none", progress=False, n_jobs=2)
    assert res["aggregate"]["n_examples"] == 3
    assert res["aggregate"]["pearson"] == pytest.approx(1.0)
