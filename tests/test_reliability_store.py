"""Reliability: a damaged store is an error naming the array and examples, never zero maps.

Each case damages a copy of a real store built from bundled entries the way a disk, a
partial copy or a hand edit would, then reads it as a user would (``crysbench verify``,
the loader, ``evaluate``, ``export``, ``submit``).
"""

import json
import os
import shutil

import numpy as np
import pytest

import crysbench
from crysbench.cli import main
from crysbench.integrity import IntegrityError
from crysbench.store import StoreError, open_store

DAMAGED_ID = "1A8O_1.pd_41"  # row 4: the middle of the reflections shard


@pytest.fixture(scope="module")
def intact(tmp_path_factory, entries):
    out = str(tmp_path_factory.mktemp("intact") / "s.zarr")
    subset = {k: entries[k] for k in ("1A8O", "3JQH")}
    crysbench.build_store("const-res@1", out=out, entries=subset, progress=False)
    return out


def _copy(intact, tmp_path):
    dst = str(tmp_path / "s.zarr")
    shutil.copytree(intact, dst)
    return dst


def _rm(rel):
    return lambda d: os.remove(os.path.join(d, rel))


def _flip(rel, at):
    def fn(d):
        p = os.path.join(d, rel)
        b = bytearray(open(p, "rb").read())
        i = int(len(b) * at)
        b[i : i + 16] = bytes(x ^ 0xFF for x in b[i : i + 16])
        open(p, "wb").write(bytes(b))

    return fn


def _edit(rel, fn):
    def go(d):
        p = os.path.join(d, rel)
        meta = json.load(open(p))
        fn(meta)
        json.dump(meta, open(p, "w"))

    return go


def _set(key, value):
    return lambda m: m.__setitem__(key, value(m) if callable(value) else value)


CASES = {
    # name: (damage, text `crysbench verify` must print, an id that must not read)
    "reflections shard deleted": (
        _rm("reflections/c/0/0"), "reflections: checksum mismatch", "3JQH_1.pd_1"
    ),
    "bytes flipped in reflections": (
        _flip("reflections/c/0/0", 0.5), f"reflections: non-integer Miller indices for 1 "
        f"example(s) ({DAMAGED_ID})", DAMAGED_ID,
    ),
    "bytes flipped in a shard index": (
        _flip("reflections/c/0/0", 0.9999), "reflections: cannot be read", "3JQH_1.pd_1"
    ),
    "cell chunk deleted": (_rm("meta/cell/c/0/0"), "meta/cell: impossible cell", "3JQH_1.pd_1"),
    "refl_start chunk deleted": (
        _rm("meta/refl_start/c/0"), "meta/refl_start: row ranges not increasing", "3JQH_1.pd_1"
    ),
    "zarr.json shape edited": (
        _edit("reflections/zarr.json", _set("shape", lambda m: [m["shape"][0] // 2, 5])),
        "but reflections holds", "3JQH_1.pd_1",
    ),
    "zarr.json dtype edited": (
        _edit("reflections/zarr.json", _set("data_type", "int32")),
        "reflections: shape (32771, 5) dtype int32", "3JQH_1.pd_1",
    ),
    "atoms chunk deleted": (_rm("atoms/xyz/c/0/0"), "atoms/xyz: 1 of 1 chunk(s) missing", None),
    "checksum column deleted": (
        _rm("meta/checksum/c/0"), "meta/checksum: not a 16-digit hex checksum", "3JQH_1.pd_1"
    ),
    "root fingerprint edited": (
        _edit("zarr.json", lambda m: m["attributes"].__setitem__("fingerprint", "0" * 64)),
        "zarr.json has 0000", None,
    ),
}  # fmt: skip


def test_intact_store_verifies(intact, capsys):
    assert main(["verify", intact]) == 0
    assert "7 examples match their checksums" in capsys.readouterr().out


@pytest.mark.parametrize("case", sorted(CASES))
def test_damaged_store_is_an_error(case, intact, tmp_path, capsys):
    damage, message, bad_id = CASES[case]
    path = _copy(intact, tmp_path)
    damage(path)
    files = sorted(os.listdir(path))
    assert main(["verify", path]) == 1
    err = capsys.readouterr().err
    assert message in err and "damaged" in err
    assert sorted(os.listdir(path)) == files  # verify only reads
    if bad_id is None:
        return
    store = open_store(path)
    with pytest.raises(IntegrityError, match="damaged store") as exc:
        store.get(bad_id)
    assert bad_id in str(exc.value) or "meta/" in str(exc.value) or "zarr.json" in str(exc.value)
    ds = crysbench.load_split(path, "all")
    with pytest.raises(StoreError):  # the loader never hands out zero or NaN maps
        for i in range(len(ds)):
            ds[i]


def test_edited_metadata_dtype_does_not_open(intact, tmp_path, capsys):
    path = _copy(intact, tmp_path)
    _edit("meta/cell/zarr.json", _set("data_type", "float32"))(path)
    assert main(["verify", path]) == 1
    assert "damaged store, its metadata cannot be read" in capsys.readouterr().err


def test_evaluate_refuses_a_damaged_store(intact, tmp_path, capsys):
    store = open_store(intact)
    preds = tmp_path / "pred"
    preds.mkdir()
    for i in store.ids("test"):
        np.save(preds / f"{i}.npy", store.get(i).density)
    for case in ("reflections shard deleted", "root fingerprint edited"):
        path = str(tmp_path / case.replace(" ", "_"))
        shutil.copytree(intact, path)
        CASES[case][0](path)
        out = tmp_path / f"{case}.json"
        argv = ["evaluate", str(preds), "--store", path, "--engine", "none", "--quiet"]
        assert main(argv + ["--out", str(out)]) != 0
        assert "damaged store" in capsys.readouterr().err
        assert not out.exists()  # no normal-looking scores


def test_export_refuses_a_damaged_example(intact, tmp_path, capsys):
    path = _copy(intact, tmp_path)
    CASES["bytes flipped in reflections"][0](path)
    assert main(["export", path, DAMAGED_ID, "--to", str(tmp_path / "x")]) == 1
    assert DAMAGED_ID in capsys.readouterr().err
    assert not list((tmp_path / "x").glob("*")) if (tmp_path / "x").exists() else True


def test_submit_refuses_an_edited_fingerprint(intact, tmp_path):
    from crysbench import leaderboard as lb

    board = lb.create_board(intact, root=tmp_path / "lb")
    path = _copy(intact, tmp_path)
    CASES["root fingerprint edited"][0](path)
    with pytest.raises(IntegrityError, match="test fingerprint mismatch .*zarr.json has 0000"):
        lb.submit({}, path, "x", {}, board=board)
    assert not [p for p in board.iterdir() if p.is_dir()]  # nothing written
