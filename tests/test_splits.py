import numpy as np
import pytest

from crysbench.splits import assign_split, split_fingerprint


def test_assignment_is_stable_and_about_ten_percent():
    ids = [f"{i}{a}{b}{c}" for i in range(1, 10) for a in "ABCD" for b in "XYZ0" for c in "123"]
    sides = [assign_split(p, "k", 0.10, 0.05) for p in ids]
    frac = np.mean([s == "test" for s in sides])
    assert 0.06 < frac < 0.14
    # adding entries never moves an existing entry: assignment is per id
    assert [assign_split(p, "k", 0.10, 0.05) for p in ids[:50]] == sides[:50]
    # the key matters
    assert [assign_split(p, "other", 0.10, 0.05) for p in ids] != sides


def test_fingerprint_depends_on_ids_and_checksums():
    a = split_fingerprint(["x", "y"], ["1", "2"])
    assert a == split_fingerprint(["y", "x"], ["2", "1"])
    assert a != split_fingerprint(["x", "y"], ["1", "3"])
    assert a != split_fingerprint(["x"], ["1"])


@pytest.mark.parametrize(
    "key", ["var-res@1", "const-res@1", "dipeptide@1", "var-res@2", "const-res@2", "dipeptide@2"]
)
def test_bundled_build_reproduces_shipped_splits(tmp_path, key):
    """Every frozen recipe, @1 included, still builds its shipped ids and fingerprint."""
    from crysbench.build import build_store
    from crysbench.splits import shipped_split
    from crysbench.store import open_store

    out = str(tmp_path / "v.zarr")
    build_store(key, out=out, jobs=2, progress=False)
    store = open_store(out)
    assert store.variant == key
    for split in ("train", "valid", "test"):
        ids, fingerprint = shipped_split(key, split)
        assert store.ids(split) == ids
    assert store.fingerprint == fingerprint


def test_recipe_hashes_of_v1_unchanged():
    from crysbench.variants import get_variant

    assert get_variant("dipeptide@1").recipe_hash == "4b34789f8d6ac4d3"
    assert get_variant("const-res@1").recipe_hash == "c15f674700f252d8"
    assert get_variant("var-res@1").recipe_hash == "eef7f321b911d4d6"
