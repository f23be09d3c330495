"""ShardEncoder: byte for byte what zarr writes, for every ragged table's dtype and shape."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr

from crysbench.shards import ShardEncoder
from crysbench.store import compressor

# (dtype, trailing shape) of each ragged table of the store (storewriter.RAGGED_TABLES)
TABLES = [("f4", (5,)), ("u1", ()), ("u1", (4,)), ("i2", ()), ("f4", (3,))]


def _array(path: Path, n: int, dtype: str, tail: tuple[int, ...], chunk=16, shard=64):
    return zarr.create_array(
        str(path),
        shape=(n,) + tail,
        dtype=dtype,
        chunks=(chunk,) + tail,
        shards=(shard,) + tail,
        compressors=compressor(),
    )


def _data(n: int, dtype: str, tail: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == "f4":
        x = rng.normal(0, 50, (n,) + tail).astype(np.float32)
    else:
        x = rng.integers(1, 100, (n,) + tail).astype(dtype)
    x[16:32] = 0  # a chunk equal to the fill value: zarr does not store it
    if dtype == "f4":
        x[32:48] = -0.0  # not the fill value bit for bit: stored
    return x


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "zarr.json"
    }


@pytest.mark.parametrize("dtype,tail", TABLES)
@pytest.mark.parametrize("n", [64, 150, 200])  # one whole shard; partial edge chunk; 2 + a bit
def test_same_bytes_as_zarr(tmp_path, dtype, tail, n):
    data = _data(n, dtype, tail)
    ref = _array(tmp_path / "zarr.zarr", n, dtype, tail)
    ours = _array(tmp_path / "ours.zarr", n, dtype, tail)
    ref[:] = data
    enc = ShardEncoder.for_array(ours)
    assert enc is not None
    enc.write(0, data)
    a, b = _files(tmp_path / "zarr.zarr"), _files(tmp_path / "ours.zarr")
    assert sorted(a) == sorted(b) and len(a) == -(-n // 64)
    for key in a:
        assert a[key] == b[key], key
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "ours.zarr"))[:], data)


def test_blocks_written_shard_by_shard_match_one_write(tmp_path):
    """The build writes each block's shards separately; a partial shard may end a block
    (rows after it in that shard stay the fill value, as zarr leaves them)."""
    n = 256
    data = _data(n, "f4", (5,), seed=1)
    data[100:128] = 0  # the gap a block leaves before the next block's shard
    ref = _array(tmp_path / "zarr.zarr", n, "f4", (5,))
    ref[0:100] = data[0:100]
    ref[128:256] = data[128:256]
    ours = _array(tmp_path / "ours.zarr", n, "f4", (5,))
    enc = ShardEncoder.for_array(ours)
    enc.write(0, data[0:100])
    enc.write(128, data[128:256])
    assert _files(tmp_path / "zarr.zarr") == _files(tmp_path / "ours.zarr")


def test_empty_shard_is_not_stored_and_rewrite_is_identical(tmp_path):
    arr = _array(tmp_path / "a.zarr", 128, "i2", ())
    enc = ShardEncoder.for_array(arr)
    enc.write(0, np.arange(1, 129, dtype=np.int16))
    first = _files(tmp_path / "a.zarr")
    enc.write(0, np.arange(1, 129, dtype=np.int16))  # a retried block
    assert _files(tmp_path / "a.zarr") == first
    enc.write(64, np.zeros(64, np.int16))  # all fill value: the shard is removed, as zarr does
    assert len(_files(tmp_path / "a.zarr")) == 1
    assert (arr[64:] == 0).all()


def test_misuse_is_refused(tmp_path):
    enc = ShardEncoder.for_array(_array(tmp_path / "a.zarr", 128, "f4", (5,)))
    with pytest.raises(ValueError, match="does not start a shard"):
        enc.write(10, np.ones((5, 5), np.float32))
    with pytest.raises(ValueError, match="exceed"):
        enc.write(64, np.ones((100, 5), np.float32))


def test_other_layouts_get_no_encoder(tmp_path):
    plain = zarr.create_array(str(tmp_path / "p.zarr"), shape=(10,), dtype="f4", chunks=(5,))
    assert ShardEncoder.for_array(plain) is None
    filled = zarr.create_array(
        str(tmp_path / "f.zarr"), shape=(64,), dtype="f4", chunks=(16,), shards=(64,),
        compressors=compressor(), fill_value=1.0,
    )  # fmt: skip
    assert ShardEncoder.for_array(filled) is None
    split_tail = zarr.create_array(
        str(tmp_path / "t.zarr"), shape=(64, 4), dtype="u1", chunks=(16, 2), shards=(64, 4),
        compressors=compressor(),
    )  # fmt: skip
    assert ShardEncoder.for_array(split_tail) is None
