"""The store writer and the per-entry part files, against oracles built by hand."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from crysbench.staging import PartError, PartFiles, read_header, read_record, write_part
from crysbench.storewriter import META_FIELDS, StoreLayout, StoreWriter


def _records(rng, n):
    out = []
    for i in range(n):
        nr, na = int(rng.integers(1, 40)), int(rng.integers(1, 9))
        head = {k: None for k in META_FIELDS if k not in ("split", "bucket")}
        head.update(
            id=f"X{i:03d}_1.pd_1",
            pdb_id="X",
            chain="A",
            sequence="AG",
            checksum=f"{i:016x}",
            entity=1,
            start=i,
            dmin=1.5,
            rate=3.0,
            density_max=1.0,
            density_min=-0.1,
            patterson_max=9.0,
            cell=[10.0, 11, 12, 90, 90, 90],
            grid_shape=[8, 8, 8],
        )
        for k in ("refl_start", "atom_start", "n_refl", "n_atom"):
            head.pop(k)
        out.append(
            {
                "head": {**head, "n_refl": nr, "n_atom": na},
                "refl": rng.normal(size=(nr, 5)).astype(np.float32),
                "element": rng.integers(1, 20, na).astype(np.uint8),
                "name": rng.integers(65, 90, (na, 4)).astype(np.uint8),
                "residue": rng.integers(0, 2, na).astype(np.int16),
                "xyz": rng.normal(size=(na, 3)).astype(np.float32),
            }
        )
    return out


@pytest.mark.parametrize("block", [1, 3, 7, 50])
def test_blocks_written_in_any_order_read_back_exactly(tmp_path, block):
    """Tiny chunks and shards: blocks own whole shards, whatever order they are written in."""
    rng = np.random.default_rng(block)
    recs = _records(rng, 23)
    n_refl = np.array([len(r["refl"]) for r in recs])
    n_atom = np.array([len(r["element"]) for r in recs])
    layout = StoreLayout.plan(n_refl, n_atom, block=block, chunk=4, shard_chunks=3)
    shard = layout.refl_shard
    assert all(s % shard == 0 for s in layout.refl_blocks)
    w = StoreWriter.create(str(tmp_path / "s.zarr"), layout)
    order = rng.permutation(layout.blocks)
    for b in order:  # as concurrent tasks would finish
        lo, hi = layout.rows(b)
        cols = {"split": np.zeros(hi - lo, np.int8), "bucket": np.arange(lo, hi, dtype=np.int32)}
        StoreWriter(w.path, StoreLayout.from_dict(layout.to_dict())).write_block(
            b, iter(recs[lo:hi]), cols
        )
    root = zarr.open_group(str(tmp_path / "s.zarr"), mode="r")
    start, count = root["meta/refl_start"][...], root["meta/n_refl"][...]
    a0, ac = root["meta/atom_start"][...], root["meta/n_atom"][...]
    for i, r in enumerate(recs):
        got = root["reflections"][start[i] : start[i] + count[i]]
        assert np.array_equal(got, r["refl"])
        assert np.array_equal(root["atoms/xyz"][a0[i] : a0[i] + ac[i]], r["xyz"])
        assert np.array_equal(root["atoms/name"][a0[i] : a0[i] + ac[i]], r["name"])
    assert list(root["meta/id"][...]) == [r["head"]["id"] for r in recs]
    assert np.array_equal(root["meta/bucket"][...], np.arange(23))
    # no two blocks share a shard of the reflection table
    shards = [set(range(s // shard, -(-(s + count[i]) // shard))) for i, s in enumerate(start)]
    owner = {}
    for i, ss in enumerate(shards):
        for sh in ss:
            owner.setdefault(sh, set()).add(i // layout.block)
    assert all(len(bs) == 1 for bs in owner.values())


def test_id_lists_streamed_in_store_order(tmp_path):
    rng = np.random.default_rng(0)
    recs = _records(rng, 11)
    layout = StoreLayout.plan(
        np.array([len(r["refl"]) for r in recs]),
        np.array([len(r["element"]) for r in recs]),
        block=4,
        chunk=4,
    )
    w = StoreWriter.create(str(tmp_path / "s.zarr"), layout)
    split = np.array([0, 2, 0, 1, 0, 0, 2, 2, 0, 1, 0], np.int8)
    for b in range(layout.blocks):
        lo, hi = layout.rows(b)
        w.write_block(b, iter(recs[lo:hi]), {"split": split[lo:hi], "bucket": np.zeros(hi - lo)})
    counts = w.write_id_lists({0: "train", 1: "valid", 2: "test"})
    assert counts == {"train": 6, "valid": 2, "test": 3}
    ids = np.array([r["head"]["id"] for r in recs])
    for code, name in ((0, "train"), (1, "valid"), (2, "test")):
        assert list(w.root[f"splits/{name}"][...]) == list(ids[split == code])


def test_part_round_trip_and_damage(tmp_path):
    rng = np.random.default_rng(1)
    recs = _records(rng, 3)
    path = tmp_path / "X-abc.part"
    write_part(path, {"pdb_id": "X"}, [({"entity": 1}, r) for r in recs])
    h = read_header(path)
    ex = h["examples"]
    with PartFiles(max_open=1) as files:
        for i, r in enumerate(recs):
            got = files.read(str(path), ex["offset"][i], ex["length"][i], ex["crc32"][i])
            for k in ("refl", "element", "name", "residue", "xyz"):
                assert np.array_equal(got[k], r[k])
            assert got["head"]["id"] == r["head"]["id"]
    raw = bytearray(path.read_bytes())
    raw[ex["offset"][1] + 5] ^= 0xFF  # one flipped byte in the second record
    path.write_bytes(bytes(raw))
    with pytest.raises(PartError, match="CRC"):
        read_record(path, ex["offset"][1], ex["length"][1], ex["crc32"][1])
    path.write_bytes(bytes(raw[:-10]))  # truncated
    with pytest.raises(PartError, match="truncated"):
        read_header(path)
    path.write_bytes(b"<html>not a part</html>")
    with pytest.raises(PartError, match="not a crysbench part"):
        read_header(path)


def test_part_files_bounded(tmp_path):
    rng = np.random.default_rng(2)
    paths = []
    for k in range(6):
        p = tmp_path / f"E{k}.part"
        write_part(p, {}, [({}, r) for r in _records(rng, 1)])
        paths.append((p, read_header(p)["examples"]))
    files = PartFiles(max_open=2)
    for _ in range(3):
        for p, ex in paths:
            files.read(str(p), ex["offset"][0], ex["length"][0], ex["crc32"][0])
            assert len(files._open) <= 2
    files.close()


def test_block_with_more_rows_than_planned_is_refused(tmp_path):
    """Sizes that disagree with the layout fail loudly (zarr would clip a write past the
    end; a block must never spill into the next block's shards)."""
    rng = np.random.default_rng(2)
    recs = _records(rng, 4)
    layout = StoreLayout.plan(
        np.array([len(r["refl"]) for r in recs]), np.array([1] * 4), block=2, chunk=4
    )
    w = StoreWriter.create(str(tmp_path / "s.zarr"), layout)
    with pytest.raises(ValueError, match="more element rows than its layout has room for"):
        w.write_block(1, iter(recs[2:4]), {"split": np.zeros(2), "bucket": np.zeros(2)})
