"""Builds of real stores on disk from the bundled entries."""

import json
import os

import numpy as np
import pytest

import crysbench
from crysbench.build import BuildError, build_store, process_entry
from crysbench.cli import main
from crysbench.store import StoreError, open_store

SUBSET = ["1A8O", "3JQH", "4E43", "2BEG", "2XHE", "1A7G", "1BHL"]


@pytest.fixture(scope="module")
def subset(entries):
    return {k: entries[k] for k in SUBSET}


@pytest.fixture(scope="module")
def built(tmp_path_factory, subset):
    out = str(tmp_path_factory.mktemp("b") / "const.zarr")
    report = build_store("const-res@1", out=out, entries=subset, progress=False)
    return out, report


def test_curation_rejects_entries_with_reason(built):
    _, report = built
    entry_rej = {}
    for pid, reason, stage in report["rejections"]:
        if stage == "entry":
            entry_rej[pid] = entry_rej.get(pid, "") + reason + "; "
    assert "SOLUTION NMR" in entry_rej["2BEG"]
    assert "2.8" in entry_rej["2XHE"]
    assert "0.297" in entry_rej["1A7G"]
    assert "1A8O" not in entry_rej


def test_store_matches_generator(built, entries):
    out, _ = built
    store = open_store(out, variant="const-res@1")
    for ex in crysbench.generate_examples(entries["1A8O"], "const-res@1"):
        got = store.get(ex.id)
        assert np.array_equal(got.hkl, ex.hkl)
        assert np.array_equal(got.F, ex.F)
        assert got.grid_shape == ex.grid_shape
        assert np.allclose(got.cell.parameters, ex.cell.parameters)
        assert np.array_equal(got.density, ex.density)
        assert got.sequence == ex.sequence
        assert np.allclose(got.positions, ex.positions, atol=1e-4)


def test_splits_grouped_by_entry(built):
    store = open_store(built[0])
    sides = {}
    for split in ("train", "valid", "test"):
        for i in store.ids(split):
            sides.setdefault(i.split("_")[0], set()).add(split)
    assert all(len(s) == 1 for s in sides.values())
    assert sum(len(store.ids(s)) for s in ("train", "valid", "test")) == len(store)


def test_jobs_and_resume_give_same_fingerprint(tmp_path, subset, built):
    ref = open_store(built[0])
    out2 = str(tmp_path / "j2.zarr")
    build_store("const-res@1", out=out2, entries=subset, jobs=2, progress=False)
    assert open_store(out2).fingerprint == ref.fingerprint
    # simulate a build killed after two entries (and a half-written temp file)
    out3 = str(tmp_path / "resume.zarr")
    from crysbench.variants import get_variant

    v = get_variant("const-res@1")
    cache = tmp_path / "cache"
    work = cache / "entries" / v.key / v.recipe_hash
    work.mkdir(parents=True)
    for pid in ("4E43", "1A8O"):
        process_entry(str(subset[pid]), pid, v.key, str(work))
    (work / "3JQH-0000.part.tmp-999").write_bytes(b"garbage")  # what a killed worker leaves
    rep = build_store("const-res@1", out=out3, entries=subset, progress=False, cache_dir=str(cache))
    assert rep["resources"]["cached_entries"] == 2
    s3 = open_store(out3)
    assert s3.fingerprint == ref.fingerprint
    assert s3.ids() == ref.ids()
    for k in ("refl_start", "n_refl", "checksum", "cell", "density_max"):
        assert np.array_equal(s3.meta[k], ref.meta[k])
    assert s3.normalization == ref.normalization


def test_failed_rebuild_keeps_finished_store(built, tmp_path):
    out, _ = built
    before = open_store(out).fingerprint
    with pytest.raises(BuildError):
        build_store("const-res@1", out=out, entries={}, progress=False)
    assert open_store(out).fingerprint == before


def test_wrong_version_is_refused(built):
    with pytest.raises(StoreError, match="rebuild it with `crysbench build --variant var-res@1"):
        open_store(built[0], variant="var-res@1")


def test_not_a_store(tmp_path):
    with pytest.raises(StoreError):
        open_store(str(tmp_path / "nothing.zarr"))


def test_store_layout_is_compact(built):
    out, report = built
    assert report["bytes_per_example"] < 150_000
    nfiles = sum(len(f) for _, _, f in os.walk(out))
    assert nfiles == report["files"]


def test_normalization_from_train_only(built):
    store = open_store(built[0])
    train = store.positions("train")
    n = store.normalization["density"]
    assert n["max"] == pytest.approx(float(store.meta["density_max"][train].max()))


def test_cli_info_json(built, capsys):
    assert main(["info", built[0], "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    for key in (
        "variant",
        "version",
        "recipe_hash",
        "counts",
        "fingerprint",
        "rejected",
        "normalization",
        "buckets",
    ):
        assert key in info
    assert info["variant"] == "const-res" and info["version"] == 1
    assert main(["info", built[0], "--ids", "train"]) == 0
    ids = capsys.readouterr().out.split()
    assert ids == open_store(built[0]).ids("train")


def test_cli_errors_are_one_line(capsys, tmp_path):
    assert main(["info", str(tmp_path / "missing.zarr")]) == 1
    err = capsys.readouterr().err
    assert "error" in err and "Traceback" not in err
    assert main(["build", "--variant", "nonsense", "--out", str(tmp_path / "x.zarr")]) == 1
    assert "unknown variant" in capsys.readouterr().err


def test_cli_build_bundled_limit(tmp_path, capsys):
    out = str(tmp_path / "d.zarr")
    assert main(["build", "--variant", "dipeptide@1", "--limit", "4", "--out", out, "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "examples" in text and "rejected because" in text
    assert len(open_store(out)) > 0


def test_paper_ids_reproduced(built):
    _, report = built
    paper = report["paper"]
    assert paper["entries"] == ["3JQH"]
    assert paper["reproduced"] == paper["paper_ids"] == 1
    assert paper["extra"] == []


def test_dask_backend_same_fingerprint(tmp_path, subset, built):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        out = str(tmp_path / "dask.zarr")
        build_store(
            "const-res@1",
            out=out,
            entries=subset,
            backend="dask",
            scheduler=cluster.scheduler_address,
            progress=False,
        )
    assert open_store(out).fingerprint == open_store(built[0]).fingerprint


def test_fsspec_url_store(tmp_path, entries):
    subset = {k: entries[k] for k in ("3JQH", "1A8O")}
    url = "memory://crysbench-tests/url.zarr"
    build_store(
        "const-res@1", out=url, entries=subset, work_dir=str(tmp_path / "w"), progress=False
    )
    local = str(tmp_path / "local.zarr")
    build_store("const-res@1", out=local, entries=subset, progress=False)
    remote = open_store(url)
    assert remote.fingerprint == open_store(local).fingerprint
    assert remote.ids() == open_store(local).ids()
    assert np.array_equal(remote.get(remote.ids()[0]).F, open_store(local).get(remote.ids()[0]).F)


def test_patterson_scale_is_the_origin_peak(built):
    """The analytic P(0) recorded at build time equals the synthesised map's maximum."""
    store = open_store(built[0])
    for row in range(0, len(store), max(1, len(store) // 5)):
        ex = store.get(row)
        assert float(ex.patterson.max()) == pytest.approx(
            float(store.meta["patterson_max"][row]), rel=1e-4
        )
        assert float(-ex.patterson.min()) <= float(store.meta["patterson_max"][row])


def test_old_schema_is_refused_with_rebuild_command(tmp_path, entries):
    import zarr

    out = str(tmp_path / "old.zarr")
    build_store("const-res@1", out=out, entries={"3JQH": entries["3JQH"]}, progress=False)
    g = zarr.open_group(out, mode="r+")
    g.attrs.update({"crysbench_schema": 1})
    with pytest.raises(StoreError, match="rebuild it with `crysbench build --variant const-res@1"):
        open_store(out)


def test_rejections_stored_as_arrays(built):
    out, report = built
    store = open_store(out)
    assert store.rejections() == [tuple(r) for r in report["rejections"]]
    assert "rejections" not in store.attrs["report"]  # zarr.json stays small
    assert any(stage == "entry" and pid == "2BEG" for pid, _, stage in store.rejections())
