"""Part files: the staging codec, and parts of earlier releases in a build cache."""

import numcodecs
import numpy as np
import pytest

from crysbench import staging
from crysbench.store import blosc_codec


def _record(n_refl: int = 300, n_atom: int = 20) -> dict:
    rng = np.random.default_rng(0)
    return {
        "head": {"id": "X_1.pd_1", "pdb_id": "X"},
        "refl": rng.normal(size=(n_refl, 5)).astype(np.float32),
        "element": rng.integers(1, 17, n_atom).astype(np.uint8),
        "name": rng.integers(65, 90, (n_atom, 4)).astype(np.uint8),
        "residue": np.arange(n_atom, dtype=np.int16),
        "xyz": rng.normal(size=(n_atom, 3)).astype(np.float32),
    }


def _roundtrip(path) -> dict:
    header = staging.read_header(path)
    ex = header["examples"]
    return staging.read_record(path, ex["offset"][0], ex["length"][0], ex["crc32"][0])


def test_records_use_the_staging_codec(tmp_path):
    path = tmp_path / "X.part"
    staging.write_part(path, {"pdb_id": "X"}, [({"entity": 1}, _record())])
    header = staging.read_header(path)
    with open(path, "rb") as f:
        f.seek(header["examples"]["offset"][0])
        blob = f.read(header["examples"]["length"][0])
    # a Blosc frame names its compressor in its header
    assert numcodecs.blosc.cbuffer_complib(blob) == "LZ4"
    assert staging.STAGING_CODEC["cname"] == "lz4"


def test_part_of_an_earlier_release_reads_the_same(tmp_path, monkeypatch):
    """Parts cached by releases that staged with the store's codec stay readable."""
    rec = _record()
    new, old = tmp_path / "new.part", tmp_path / "old.part"
    staging.write_part(new, {"pdb_id": "X"}, [({"entity": 1}, rec)])
    monkeypatch.setattr(staging, "_CODEC", [blosc_codec()])  # zstd, as before
    staging.write_part(old, {"pdb_id": "X"}, [({"entity": 1}, rec)])
    monkeypatch.setattr(staging, "_CODEC", [])  # back to the staging codec
    assert new.read_bytes() != old.read_bytes()
    a, b = _roundtrip(new), _roundtrip(old)
    assert a["head"] == b["head"]
    for name in staging.RECORD_ARRAYS:
        np.testing.assert_array_equal(a[name], b[name])
        np.testing.assert_array_equal(a[name], rec[name])


def test_damaged_record_is_named(tmp_path):
    path = tmp_path / "X.part"
    staging.write_part(path, {"pdb_id": "X"}, [({"entity": 1}, _record())])
    header = staging.read_header(path)
    off = header["examples"]["offset"][0]
    data = bytearray(path.read_bytes())
    data[off + 20] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(staging.PartError, match="CRC mismatch"):
        _roundtrip(path)
