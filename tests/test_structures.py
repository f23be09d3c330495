"""Reading entries: formats, header metadata, curation, bad files."""

import gzip

import pytest

from crysbench.build import build_store
from crysbench.sources import SourceError, local_entries
from crysbench.structures import StructureError, pdb_id_from_path, read_entry


@pytest.mark.parametrize("pid", ["1A8O", "3JQH", "4CUP", "2XHE", "1GBT"])
def test_reads_pdb_and_mmcif_plain_or_gzipped(entries, pid):
    e = read_entry(entries[pid])
    assert e.pdb_id == pid and e.entity_chains


def test_header_metadata_and_curation(entries):
    assert "SOLUTION NMR" in " ".join(read_entry(entries["2BEG"]).curation_reasons())
    assert any("2.8" in r for r in read_entry(entries["2XHE"]).curation_reasons())
    assert any("0.297" in r for r in read_entry(entries["1A7G"]).curation_reasons())
    info = read_entry(entries["3HSY"]).info
    assert info.resolution == 1.75 and info.r_free == 0.205
    assert info.deposition_date == "2009-06-11"
    assert read_entry(entries["3HSY"]).curation_reasons() == []


def test_entities_numbered_as_in_the_entry(entries):
    e = read_entry(entries["3KPR"])
    assert [n for n, _ in e.entity_chains] == [1, 2, 3, 4, 5]
    assert read_entry(entries["4ZHL"]).entity_chains == [(1, "U"), (2, "P")]


@pytest.mark.parametrize(
    "content,match",
    [
        (b"", "no atoms"),
        (b"HEADER    garbage\nEND\n", "no atoms"),
        # mtime=0: the same bytes in every pytest-xdist worker (test ids must agree)
        (
            gzip.compress(b"ATOM      1  N   ALA A   1      11.104   6.134  -6.504", mtime=0)[:30],
            "gzip",
        ),
    ],
    ids=["empty", "garbage", "truncated-gzip"],
)
def test_bad_files_name_the_file(tmp_path, content, match):
    p = tmp_path / "9BAD.pdb.gz"
    p.write_bytes(content)
    with pytest.raises(StructureError, match=match) as err:
        read_entry(p)
    assert "9BAD.pdb.gz" in str(err.value)


def test_truncated_real_entry_is_reported_by_build(tmp_path, entries):
    raw = gzip.decompress(entries["1A8O"].read_bytes()) if entries["1A8O"].suffix == ".gz" else None
    bad = tmp_path / "1A8O.pdb.gz"
    bad.write_bytes(gzip.compress(raw)[:2000])  # a truncated download
    good = {"3JQH": entries["3JQH"], "1A8O": bad}
    report = build_store("const-res", out=str(tmp_path / "s.zarr"), entries=good, progress=False)
    assert report["rejected"].get("unreadable") == 1
    assert report["n_examples"] >= 1  # the good entry is kept


def test_missing_file(tmp_path):
    with pytest.raises(StructureError, match="no such file"):
        read_entry(tmp_path / "1XYZ.cif")


def test_pdb_ids_from_mirror_names():
    assert pdb_id_from_path("/m/ab/pdb1abc.ent.gz") == "1ABC"
    assert pdb_id_from_path("1abc.cif.gz") == "1ABC"


def test_local_mirror_layout(tmp_path, entries):
    (tmp_path / "a8").mkdir()
    (tmp_path / "a8" / "pdb1a8o.ent.gz").write_bytes(entries["1A8O"].read_bytes())
    (tmp_path / "3jqh.cif.gz").write_bytes(entries["3JQH"].read_bytes())
    found = local_entries(tmp_path)
    assert sorted(found) == ["1A8O", "3JQH"]
    with pytest.raises(SourceError):
        local_entries(tmp_path / "a8" / "none")


# ---- recipes @2: curation as the RCSB query ---------------------------------------


def test_release_dates_from_headers(entries):
    from crysbench.structures import read_entry

    dates = {pid: read_entry(entries[pid]).info.release_date for pid in entries}
    assert dates["1A8O"] == "1998-10-14"  # REVDAT 1 (PDB)
    assert dates["1GBT"] == "1994-01-31"  # pdbx_audit_revision_history ordinal 1
    assert dates["4CUP"] == "2014-04-02"  # database_PDB_rev num 1
    assert all(dates.values())


def test_release_rule_on_bundled_entries(entries):
    from crysbench.structures import CurationRules, read_entry

    rules = CurationRules.for_recipe("release")
    for pid in entries:
        e = read_entry(entries[pid])
        assert (e.curation_reasons() == []) == (e.curation_reasons(rules) == [])
    reasons = read_entry(entries["1HVR"]).curation_reasons(rules)
    assert "released 1995-01-26 (before 1996)" in reasons


@pytest.mark.parametrize("first", ["NEUTRON DIFFRACTION", "X-RAY DIFFRACTION"])
def test_joint_xray_neutron_kept_by_release_rules(entries, tmp_path, first):
    import gzip
    import re

    from crysbench.structures import CurationRules, read_entry

    other = "X-RAY DIFFRACTION" if first.startswith("N") else "NEUTRON DIFFRACTION"
    text = gzip.decompress(entries["1A8O"].read_bytes()).decode()
    text = re.sub(r"^EXPDTA.*$", f"EXPDTA    {first}; {other}".ljust(80), text, flags=re.M)
    path = tmp_path / "1a8o.pdb"
    path.write_text(text)
    e = read_entry(path)
    assert set(e.info.methods) == {"X-RAY DIFFRACTION", "NEUTRON DIFFRACTION"}
    assert e.curation_reasons(CurationRules.for_recipe("release")) == []
    assert e.curation_reasons()  # @1: the whole method string must be X-ray
