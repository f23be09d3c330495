"""The build's plan (crysbench.plan): store order from packed keys, against a lexsort."""

import numpy as np
import pytest

from crysbench.plan import PlanColumns, PlanError, compact, plan_store
from crysbench.splits import SPLIT_CODES


def _entry_rows(rng, m):
    shapes = rng.choice([8, 10, 12, 16], size=(m, 3))
    return {
        "offset": rng.integers(0, 1 << 30, m).tolist(),
        "length": rng.integers(1, 1000, m).tolist(),
        "crc32": rng.integers(0, 1 << 32, m, dtype=np.uint64).tolist(),
        "n_refl": rng.integers(1, 5000, m).tolist(),
        "n_atom": rng.integers(1, 300, m).tolist(),
        "grid_shape": shapes.tolist(),
        "entity": rng.integers(1, 3, m).tolist(),
        "start": rng.permutation(m).tolist(),
        "density_max": rng.random(m).tolist(),
        "density_min": (-rng.random(m)).tolist(),
        "patterson_max": (10 * rng.random(m)).tolist(),
    }


def test_store_order_equals_a_lexsort_of_split_shape_entry_entity_start():
    rng = np.random.default_rng(3)
    ids = [f"{1000 + i}" for i in range(40)]
    split = {p: ("train", "valid", "test")[int(rng.integers(0, 3))] for p in ids}
    codes = np.array([SPLIT_CODES[split[p]] for p in ids], dtype=np.int8)
    cols = PlanColumns(codes, merge=3)
    raw = {}
    for e in rng.permutation(len(ids)):  # entries finish in any order
        m = int(rng.integers(0, 9))
        raw[e] = _entry_rows(rng, m)
        cols.add(int(e), *compact(raw[e]))
    plan = plan_store(cols, ids, split)
    # the oracle: every example as a tuple, sorted on the store's key
    rows = [
        (codes[e], tuple(r["grid_shape"][j]), e, r["entity"][j], r["start"][j], r["offset"][j])
        for e, r in raw.items()
        for j in range(len(r["offset"]))
    ]
    rows.sort(key=lambda t: t[:5])
    got = plan.rows(0, plan.n)
    assert plan.n == len(rows)
    assert got["offset"].tolist() == [t[5] for t in rows]
    assert got["split"].tolist() == [t[0] for t in rows]
    assert got["entry"].tolist() == [t[2] for t in rows]
    shapes = [tuple(s) for s in plan.bucket_keys.tolist()]
    assert shapes == sorted(set(t[1] for t in rows))
    assert [shapes[b] for b in got["bucket"]] == [t[1] for t in rows]
    # block totals and counts, chunked, against the rows
    totals = plan.block_totals(7)
    sizes = got["n_refl"].astype(np.int64)
    assert totals[0].tolist() == [int(sizes[i : i + 7].sum()) for i in range(0, plan.n, 7)]
    c = plan.counts()
    assert plan.split_counts() == {s: sum(t[0] == k for t in rows) for s, k in SPLIT_CODES.items()}
    assert c["entries"].tolist() == sorted(e for e, r in raw.items() if r["offset"])
    assert cols.stats()["density_min"][next(iter(raw))] == pytest.approx(
        min(raw[next(iter(raw))]["density_min"] or [np.nan]), nan_ok=True
    )


def test_a_field_that_overflows_names_itself():
    rng = np.random.default_rng(0)
    cols = PlanColumns(np.zeros(1, dtype=np.int8))
    r = _entry_rows(rng, 2)
    r["offset"] = [1 << 33, 5]
    with pytest.raises(PlanError, match="offset"):
        cols.add(0, *compact(r))


def test_narrow_and_wide_entries_keep_every_value():
    """Entries whose sizes fit 16 bits are kept narrow; a wider entry anywhere (before or
    after a merge) widens the column without changing a value."""
    rng = np.random.default_rng(5)
    ids = [f"{2000 + i}" for i in range(12)]
    split = dict.fromkeys(ids, "train")
    codes = np.zeros(len(ids), dtype=np.int8)
    cols = PlanColumns(codes, merge=4)
    raw = {}
    for e in range(len(ids)):
        r = _entry_rows(rng, 5)
        if e in (6, 11):  # wide values late, in different merge groups
            r["n_refl"][0], r["length"][2] = 70_000, 1 << 20
        raw[e] = r
        cols.add(e, *compact(r))
    plan = plan_store(cols, ids, split)
    got = plan.rows(0, plan.n)
    want = sorted(
        (
            tuple(r["grid_shape"][j]),
            e,
            r["entity"][j],
            r["start"][j],
            r["n_refl"][j],
            r["length"][j],
        )
        for e, r in raw.items()
        for j in range(5)
    )
    assert got["n_refl"].tolist() == [t[4] for t in want]
    assert got["length"].tolist() == [t[5] for t in want]
    assert plan.cols["n_refl"].dtype == np.uint32
    assert plan.cols["n_atom"].dtype == np.uint16  # never wider than 16 bits here

    narrow = PlanColumns(codes[:1])
    narrow.add(0, *compact(_entry_rows(rng, 4)))
    small = narrow.arrays()
    assert {k: small[k].itemsize for k in ("length", "n_refl", "n_atom")} == dict.fromkeys(
        ("length", "n_refl", "n_atom"), 2
    )
