"""A build never deletes what it did not make, never runs twice on one store, and turns
a bad entry into a rejection (issue: nothing lost, nothing silently wrong)."""

from __future__ import annotations

import fcntl
import gzip
from pathlib import Path

import pytest

import crysbench.example
from crysbench.build import BuildError, build_store
from crysbench.cli import main
from crysbench.store import open_store


@pytest.fixture
def two(entries):
    return {k: entries[k] for k in ("3JQH", "1A8O")}


def test_work_dir_keeps_what_is_not_ours(two, tmp_path):
    work = tmp_path / "mine"
    work.mkdir()
    (work / "thesis.tex").write_text("precious")
    out = str(tmp_path / "s.zarr")
    build_store("const-res", out=out, entries=two, progress=False, work_dir=str(work))
    assert (work / "thesis.tex").read_text() == "precious"
    assert sorted(p.name for p in work.iterdir()) == ["thesis.tex"]  # our parts are gone
    fresh = tmp_path / "fresh"
    build_store(
        "const-res", out=str(tmp_path / "t.zarr"), entries=two, progress=False, work_dir=str(fresh)
    )
    assert not fresh.exists()  # made by the build, and removed again


def test_out_onto_a_folder_that_is_not_a_store_is_refused(two, tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(BuildError, match="not a crysbench store"):
        build_store("const-res", out=str(out), entries=two, progress=False)
    assert (out / "keep.txt").read_text() == "mine"
    assert (
        main(["build", "--variant", "const-res", "--out", str(out), "--quiet", "--limit", "1"]) == 1
    )


def test_existing_store_needs_overwrite(two, tmp_path, capsys):
    out = str(tmp_path / "s.zarr")
    build_store("const-res", out=out, entries=two, progress=False)
    fp = open_store(out).fingerprint
    with pytest.raises(BuildError, match="--overwrite"):
        build_store("const-res", out=out, entries=two, progress=False)
    assert open_store(out).fingerprint == fp
    build_store("const-res", out=out, entries=two, progress=False, overwrite=True)
    assert open_store(out).fingerprint == fp


def test_second_concurrent_build_fails_at_once(two, tmp_path):
    out = str(tmp_path / "s.zarr")
    with open(out + ".lock", "a+") as f:  # what a running build holds
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        f.write("pid 4242")
        f.flush()
        with pytest.raises(BuildError, match="another crysbench build .*pid 4242"):
            build_store("const-res", out=out, entries=two, progress=False)
    assert not Path(out).exists()
    build_store("const-res", out=out, entries=two, progress=False)  # the lock is free again
    assert not Path(out + ".lock").exists()


def _moved_atom(src: Path, dst: Path, serial: int, x: str) -> Path:
    """A copy of a PDB file with one ATOM record's x coordinate replaced."""
    text = gzip.decompress(src.read_bytes()).decode() if src.suffix == ".gz" else src.read_text()
    lines = text.splitlines(keepends=True)
    n = 0
    for i, line in enumerate(lines):
        if line.startswith("ATOM"):
            n += 1
            if n == serial:
                lines[i] = line[:30] + f"{x:>8}" + line[38:]
                break
    dst.write_text("".join(lines))
    return dst


@pytest.mark.parametrize("x", ["9999.000", "150.000", "abc"])
def test_absurd_coordinates_reject_the_entry_not_the_build(entries, tmp_path, x):
    src = entries["1A8O"]
    if ".cif" in src.name:
        pytest.skip("bundled 1A8O is not in PDB format")
    bad = _moved_atom(src, tmp_path / "1A8O.pdb", 200, x)
    out = str(tmp_path / "s.zarr")
    rep = build_store(
        "const-res", out=out, entries={"1A8O": bad, "3JQH": entries["3JQH"]}, progress=False
    )
    reasons = [r for pid, r, stage in rep["rejections"] if pid == "1A8O" and stage == "entry"]
    assert reasons and ("absurd coordinates" in reasons[0] or "unreadable" in reasons[0])
    assert open_store(out).ids() == ["3JQH_1.pd_1"]
    big = [b for b in rep["buckets"] if max(b["shape"]) > 200]
    assert not big


def test_a_crash_inside_one_entry_is_its_rejection(entries, tmp_path, monkeypatch):
    real = crysbench.example.examples_from_entry

    def fragile(entry, variant, rejected=None):
        if entry.pdb_id == "1A8O":
            raise MemoryError("std::bad_alloc")
        return real(entry, variant, rejected)

    monkeypatch.setattr(crysbench.example, "examples_from_entry", fragile)
    out = str(tmp_path / "s.zarr")
    rep = build_store(
        "const-res",
        out=out,
        entries={"1A8O": entries["1A8O"], "3JQH": entries["3JQH"]},
        progress=False,
        no_cache=True,
    )
    assert ["1A8O", "crashed: MemoryError: std::bad_alloc", "entry"] in rep["rejections"]
    assert open_store(out).ids() == ["3JQH_1.pd_1"]


def test_fixed_source_file_is_read_again(entries, tmp_path):
    src = entries["1A8O"]
    if ".cif" in src.name:
        pytest.skip("bundled 1A8O is not in PDB format")
    path = _moved_atom(src, tmp_path / "1A8O.pdb", 200, "9999.000")
    cache = str(tmp_path / "cache")
    rep = build_store(
        "const-res",
        out=str(tmp_path / "a.zarr"),
        entries={"1A8O": path, "3JQH": entries["3JQH"]},
        progress=False,
        cache_dir=cache,
    )
    assert any(pid == "1A8O" for pid, _, _ in rep["rejections"])
    text = gzip.decompress(src.read_bytes()) if src.suffix == ".gz" else src.read_bytes()
    path.write_bytes(text)  # the user fixes the file
    rep = build_store(
        "const-res",
        out=str(tmp_path / "b.zarr"),
        entries={"1A8O": path, "3JQH": entries["3JQH"]},
        progress=False,
        cache_dir=cache,
    )
    assert rep["resources"]["cached_entries"] == 1  # 3JQH only
    assert any(i.startswith("1A8O") for i in open_store(str(tmp_path / "b.zarr")).ids())


def test_damaged_cached_entry_is_redone(two, tmp_path):
    cache = tmp_path / "cache"
    a = str(tmp_path / "a.zarr")
    build_store("const-res", out=a, entries=two, progress=False, cache_dir=str(cache))
    part = next(p for p in cache.rglob("1A8O-*.part"))
    part.write_bytes(part.read_bytes()[:-100])  # truncated, e.g. by a full disk
    b = str(tmp_path / "b.zarr")
    rep = build_store("const-res", out=b, entries=two, progress=False, cache_dir=str(cache))
    assert rep["resources"]["cached_entries"] == 1
    assert open_store(b).fingerprint == open_store(a).fingerprint


def test_limit_must_be_positive(two, tmp_path):
    with pytest.raises(BuildError, match="at least 1"):
        build_store("const-res", out=str(tmp_path / "s.zarr"), entries=two, limit=-1)


def test_damaged_record_in_cache_is_named_and_removed(two, tmp_path):
    from crysbench.staging import read_header

    cache = tmp_path / "cache"
    build_store(
        "const-res", out=str(tmp_path / "a.zarr"), entries=two, progress=False, cache_dir=str(cache)
    )
    part = next(p for p in cache.rglob("1A8O-*.part"))
    ex = read_header(part)["examples"]
    raw = bytearray(part.read_bytes())
    raw[ex["offset"][0] + 10] ^= 0xFF  # a flipped bit inside a record: size checks pass
    part.write_bytes(bytes(raw))
    with pytest.raises(BuildError, match="CRC.*run the same command again"):
        build_store(
            "const-res",
            out=str(tmp_path / "b.zarr"),
            entries=two,
            progress=False,
            cache_dir=str(cache),
        )
    assert not part.exists()
    build_store(
        "const-res", out=str(tmp_path / "b.zarr"), entries=two, progress=False, cache_dir=str(cache)
    )
    assert len(open_store(str(tmp_path / "b.zarr"))) == len(open_store(str(tmp_path / "a.zarr")))


def test_failed_downloads_are_rejections_and_the_build_goes_on(entries, tmp_path, monkeypatch):
    import crysbench.sources

    def resolve(source, cache_dir=None, failed=None, **kw):
        failed["9ZZZ"] = "https://files.rcsb.org/download/9ZZZ.cif.gz: failed after 4 attempts"
        return {"3JQH": entries["3JQH"]}

    monkeypatch.setattr(crysbench.sources, "resolve_source", resolve)
    rep = build_store("const-res", source="rcsb", out=str(tmp_path / "s.zarr"), progress=False)
    assert rep["rejected"]["download failed"] == 1
    assert [
        "9ZZZ",
        "https://files.rcsb.org/download/9ZZZ.cif.gz: failed after 4 attempts",
        "download",
    ] in rep["rejections"]
    assert open_store(str(tmp_path / "s.zarr")).ids() == ["3JQH_1.pd_1"]
