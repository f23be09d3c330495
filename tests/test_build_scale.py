"""Builds that hold at size: bounded open files, blocks, dask processes, killed workers,
incremental builds (issue: paper scale and beyond)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from crysbench.build import build_store
from crysbench.store import open_store

SUBSET = ["1A8O", "3JQH", "4E43", "1BHL", "2BEG"]


def made_up(entries: dict, base: list[str], n: int) -> dict:
    """``n`` entries under distinct made-up ids (8000, 8001, ...), cycling over ``base``."""
    return {f"{8000 + i}": entries[base[i % len(base)]] for i in range(n)}


def store_files(path: str) -> dict[str, bytes]:
    """Every file of a store, the root attributes without the (timed) report."""
    out = {}
    for dirpath, _, files in os.walk(path):
        for f in files:
            p = Path(dirpath) / f
            rel = str(p.relative_to(path))
            data = p.read_bytes()
            if rel == "zarr.json":
                meta = json.loads(data)
                meta["attributes"].pop("report")
                data = json.dumps(meta, sort_keys=True).encode()
            out[rel] = data
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory, entries):
    """The subset built in one process, with small blocks (several write tasks)."""
    d = tmp_path_factory.mktemp("ref")
    out = str(d / "ref.zarr")
    sub = {k: entries[k] for k in SUBSET}
    build_store("const-res", out=out, entries=sub, progress=False, block=8, no_cache=True)
    return out, sub


def test_bytes_independent_of_jobs_and_cache(reference, tmp_path):
    out, sub = reference
    out2 = str(tmp_path / "j2.zarr")
    build_store("const-res", out=out2, entries=sub, jobs=2, progress=False, block=8)
    assert store_files(out2) == store_files(out)
    out3 = str(tmp_path / "warm.zarr")  # from the warm cache: no entry redone
    rep = build_store("const-res", out=out3, entries=sub, jobs=2, progress=False, block=8)
    assert rep["resources"]["cached_entries"] == len(sub)
    assert store_files(out3) == store_files(out)


def test_block_size_changes_layout_not_data(reference, tmp_path):
    out, sub = reference
    big = str(tmp_path / "big.zarr")
    build_store("const-res", out=big, entries=sub, progress=False)
    a, b = open_store(out), open_store(big)
    assert a.attrs["layout"]["block"] <= 8 and b.attrs["layout"]["block"] == len(b)
    assert a.ids() == b.ids() and a.fingerprint == b.fingerprint
    assert a.normalization == b.normalization
    for k in ("checksum", "cell", "grid_shape", "split", "bucket", "n_refl", "density_max"):
        assert np.array_equal(a.meta[k], b.meta[k])
    for row in range(len(a)):
        ea, eb = a.get(row), b.get(row)
        assert np.array_equal(ea.F, eb.F) and np.array_equal(ea.hkl, eb.hkl)
        assert np.array_equal(ea.positions, eb.positions)


CHILD = """
import json, resource, sys
from crysbench.build import build_store
from crysbench.structures import bundled_entries
lim = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_NOFILE, (lim, lim))
e = bundled_entries()
ids = [f"{8000 + i}" for i in range(int(sys.argv[3]))]
base = ["3JQH", "1A8O", "2BEG"]
entries = {pid: e[base[i % 3]] for i, pid in enumerate(ids)}
rep = build_store("const-res", out=sys.argv[1], entries=entries, jobs=2, progress=False,
                  block=64, no_cache=True)
print(json.dumps({"n": rep["n_examples"], "fds": rep["resources"]["open_files_max"],
                  "limit": rep["resources"]["open_files_limit"]}))
"""


@pytest.mark.slow
def test_many_entries_under_low_ulimit(tmp_path):
    """300 entries under ulimit -n 128 (the old build needed ~10 files an entry)."""
    out = str(tmp_path / "many.zarr")
    p = subprocess.run(
        [sys.executable, "-c", CHILD, out, "128", "300"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    rep = json.loads(p.stdout.strip().splitlines()[-1])
    assert rep["limit"] == 128
    assert rep["n"] > 300  # 100 x 3JQH (1 example) + 100 x 1A8O (several); 2BEG rejected
    assert 0 < rep["fds"] < 100
    store = open_store(out)
    assert len(store) == rep["n"]
    assert len(store.ids("test")) > 0


def test_incremental_build_reuses_entries_and_keeps_splits(entries, tmp_path):
    cache = str(tmp_path / "cache")
    first = {k: entries[k] for k in ("1A8O", "3JQH")}
    a = str(tmp_path / "a.zarr")
    build_store("const-res", out=a, entries=first, progress=False, cache_dir=cache)
    more = {**first, **{k: entries[k] for k in ("4E43", "1BHL")}}
    b = str(tmp_path / "b.zarr")
    rep = build_store("const-res", out=b, entries=more, progress=False, cache_dir=cache)
    assert rep["resources"]["cached_entries"] == 2  # only the new entries were made
    sa, sb = open_store(a), open_store(b)
    for split in ("train", "valid", "test"):
        assert set(sa.ids(split)) <= set(sb.ids(split))  # nothing moved
    for eid in sa.ids():
        assert np.array_equal(sa.get(eid).F, sb.get(eid).F)


def _dask():
    return pytest.importorskip("dask.distributed")


@pytest.mark.slow
def test_dask_worker_processes_equal_loky(reference, tmp_path):
    distributed = _dask()
    out, sub = reference
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        got = str(tmp_path / "dask.zarr")
        rep = build_store(
            "const-res",
            out=got,
            entries=sub,
            backend="dask",
            scheduler=cluster.scheduler_address,
            progress=False,
            block=8,
            no_cache=True,
        )
    assert rep["backend"] == "dask"
    assert store_files(got) == store_files(out)


@pytest.mark.slow
def test_dask_build_survives_a_killed_worker(entries, tmp_path):
    distributed = _dask()
    many = made_up(entries, ["1A8O", "4E43", "3JQH"], 30)
    ref = str(tmp_path / "ref.zarr")
    build_store("const-res", out=ref, entries=many, progress=False, block=32, no_cache=True)
    cache = tmp_path / "cache"
    killed = []
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        # the worker pids, from a client closed again before the build opens its own (two
        # clients in one process can clash over their event loops)
        with distributed.Client(cluster) as client:
            pids = client.run(os.getpid)

        def killer():
            deadline = time.time() + 120
            while time.time() < deadline:
                if len(list(cache.rglob("*.part"))) >= 4:
                    victim = sorted(pids.values())[0]
                    os.kill(victim, 9)
                    killed.append(victim)
                    return
                time.sleep(0.05)

        t = threading.Thread(target=killer)
        t.start()
        got = str(tmp_path / "dask.zarr")
        build_store(
            "const-res",
            out=got,
            entries=many,
            backend="dask",
            scheduler=cluster.scheduler_address,
            progress=False,
            block=32,
            cache_dir=str(cache),
        )
        t.join()
    assert killed, "the worker was not killed while the build ran"
    assert open_store(got).fingerprint == open_store(ref).fingerprint
    assert store_files(got) == store_files(ref)


KILLED = """
import sys
from crysbench.build import build_store
from crysbench.structures import bundled_entries
e = bundled_entries()
base = ["1A8O", "4E43", "3JQH"]
entries = {f"{8000 + i}": e[base[i % 3]] for i in range(24)}
build_store("const-res", out=sys.argv[1], entries=entries, jobs=2, progress=False, block=16,
            cache_dir=sys.argv[2], overwrite=True)
"""


@pytest.mark.slow
def test_sigkilled_build_resumes_to_identical_bytes(entries, tmp_path):
    """SIGKILL of the whole build (coordinator and workers) part-way, then the same command."""
    import signal

    many = made_up(entries, ["1A8O", "4E43", "3JQH"], 24)
    ref = str(tmp_path / "ref.zarr")
    build_store("const-res", out=ref, entries=many, progress=False, block=16, no_cache=True)
    out, cache = str(tmp_path / "s.zarr"), tmp_path / "cache"
    proc = subprocess.Popen([sys.executable, "-c", KILLED, out, str(cache)], start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(cache.rglob("*.part"))) < 6:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not Path(out).exists()
    p = subprocess.run([sys.executable, "-c", KILLED, out, str(cache)], timeout=300)
    assert p.returncode == 0
    assert store_files(out) == store_files(ref)
