"""Reliability: ids never write outside their folder; bad numbers and Ctrl-C are one line."""

import dataclasses
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import zarr

from crysbench import cli
from crysbench.cli import main
from crysbench.export import export_example
from crysbench.names import id_path, safe_id


@pytest.mark.parametrize("bad", ["../x", "a/b", "..", "", ".hidden", "x\0y", "a\\b", "c:x"])
def test_unsafe_ids_are_refused(bad, tmp_path):
    with pytest.raises(ValueError, match="not a safe file name"):
        id_path(tmp_path, bad, ".npy")
    assert safe_id("3JQH_1.pd_1") == "3JQH_1.pd_1"


def test_export_of_a_hostile_example_id_writes_nothing(const_res_examples, tmp_path):
    ex = dataclasses.replace(const_res_examples[0], id="../../escaped")
    out = tmp_path / "a" / "b"
    with pytest.raises(ValueError, match="'../../escaped' is not a safe file name"):
        export_example(ex, out)
    assert not any(tmp_path.rglob("escaped*")) and not out.exists()


def test_store_with_a_hostile_id_is_refused(store_path, tmp_path, capsys):
    path = str(tmp_path / "s.zarr")
    shutil.copytree(store_path, path)
    ids = zarr.open_array(f"{path}/meta/id", mode="r+")
    good = str(ids[0])
    ids[0] = "../../../escaped"
    assert main(["export", path, "../../../escaped", "--to", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "meta/id" in err and "not a safe file name" in err
    assert not any(tmp_path.rglob("escaped*"))
    assert good  # the intact store had a safe id there


def test_shelxd_prediction_with_a_hostile_id(tmp_path):
    from baselines.shelxd.predict import write_prediction

    sol = SimpleNamespace(id="../escaped", density=np.zeros((2, 2, 2), np.float32))
    with pytest.raises(ValueError, match="not a safe file name"):
        write_prediction(tmp_path / "out", sol)
    assert not any(tmp_path.rglob("*escaped*"))


@pytest.mark.parametrize("arg", [["--limit", "-1"], ["--limit", "0"], ["--jobs", "0"]])
def test_build_numbers_must_be_positive(arg, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["build", "--out", str(tmp_path / "x.zarr"), *arg])
    assert exc.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "x.zarr").exists()


def test_ctrl_c_while_starting_is_one_line(monkeypatch, capsys):
    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "make_parser", interrupted)
    assert main(["build"]) == 130
    assert capsys.readouterr().err == "crysbench: interrupted\n"


def test_bare_key_error_names_what_is_missing(store_path, monkeypatch, capsys):
    def broken(args):
        raise KeyError("cell")

    monkeypatch.setattr(cli.info, "run", broken)
    assert main(["info", store_path]) == 1
    assert "missing 'cell' (KeyError" in capsys.readouterr().err
