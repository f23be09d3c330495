"""Evaluation at scale: resume after SIGKILL or an interruption, the --out lock and
checks, bad prediction files named with their cause, containers, the dask backend."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import gemmi
import numpy as np
import pytest

import crysbench
import crysbench.scoring
from crysbench.cli.evaluate import add_arguments, journal_path, lock_path
from crysbench.cli.evaluate import run as run_cli
from crysbench.journal import OutputLock
from crysbench.predictions import EvaluationError, load_predictions, write_predictions


@pytest.fixture(scope="module")
def noisy_maps(store_path):
    store = crysbench.open_store(store_path)
    rng = np.random.default_rng(7)
    out = {}
    for i in store.ids("test"):
        d = store.get(i).density
        out[i] = (d + rng.normal(0, 0.5 * float(d.std()), d.shape)).astype(np.float32)
    return out


@pytest.fixture(scope="module")
def folder(noisy_maps, tmp_path_factory):
    f = tmp_path_factory.mktemp("npy")
    for k, v in noisy_maps.items():
        np.save(f / f"{k}.npy", v)
    return f


def _cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    add_arguments(p)
    return run_cli(p.parse_args(argv))


def _strip(res: dict) -> dict:
    return {k: v for k, v in res.items() if k != "elapsed_s"}


def test_interrupted_evaluation_resumes_identically(store_path, folder, tmp_path, monkeypatch):
    args = [str(folder), "--store", store_path, "--engine", "builtin", "-q", "--no-plots"]
    ref = tmp_path / "ref.json"
    assert _cli(args + ["--out", str(ref)]) == 0
    out = tmp_path / "out" / "results.json"
    real = crysbench.scoring.score_chunk
    calls = {"n": 0}

    def flaky(task):
        calls["n"] += 1
        if calls["n"] == 40:
            raise KeyboardInterrupt
        return real(task)

    monkeypatch.setattr(crysbench.scoring, "score_chunk", flaky)
    assert _cli(args + ["--out", str(out)]) == 130
    assert not out.exists() and not lock_path(out).exists()
    kept = journal_path(out).read_text().splitlines()
    assert len(kept) == 1 + 39  # header + the rows finished before the interruption
    counted = {"n": 0}

    def counting(task):
        counted["n"] += len(task.keys)
        return real(task)

    monkeypatch.setattr(crysbench.scoring, "score_chunk", counting)
    assert _cli(args + ["--out", str(out)]) == 0
    n = len(crysbench.open_store(store_path).ids("test"))
    assert counted["n"] == n - 39  # only what was left
    assert _strip(json.loads(out.read_text())) == _strip(json.loads(ref.read_text()))
    assert not journal_path(out).exists()


def _children(pid: int) -> list[int]:
    kids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(d.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc (Linux)")
def test_sigkilled_parallel_evaluation_resumes_and_leaves_no_workers(store_path, folder, tmp_path):
    out = tmp_path / "results.json"
    argv = [sys.executable, "-m", "crysbench.cli", "evaluate", str(folder), "--store", store_path,
            "--engine", "builtin", "-j", "2", "-q", "--no-plots", "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = journal_path(out)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if journal.exists() and len(journal.read_bytes().splitlines()) > 10:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "finished before it could be killed"
    workers = _children(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = len(journal.read_bytes().splitlines()) - 1
    assert kept >= 10 and not out.exists()
    end = time.time() + 15
    while time.time() < end and any(_alive(w) for w in workers):
        time.sleep(0.2)
    assert workers and not any(_alive(w) for w in workers)
    # the lock died with the process: the same command resumes and finishes
    assert _cli(argv[4:]) == 0
    ref = tmp_path / "ref.json"
    assert _cli(argv[4:-1] + [str(ref)]) == 0
    assert _strip(json.loads(out.read_text())) == _strip(json.loads(ref.read_text()))


def test_second_evaluate_on_one_out_fails_fast(store_path, folder, tmp_path, capsys):
    out = tmp_path / "results.json"
    with OutputLock(lock_path(out), "crysbench evaluate"):
        t = time.perf_counter()
        rc = _cli([str(folder), "--store", store_path, "--engine", "none", "-q", "--out", str(out)])
        assert rc == 2 and time.perf_counter() - t < 5
    err = capsys.readouterr().err
    assert "another crysbench evaluate" in err and f"pid {os.getpid()}" in err
    assert not out.exists()


def test_out_is_checked_before_scoring(store_path, folder, tmp_path, capsys, monkeypatch):
    ev = importlib.import_module("crysbench.evaluator")
    monkeypatch.setattr(ev, "evaluate", lambda *a, **k: pytest.fail("scored before --out check"))
    base = [str(folder), "--store", store_path, "--engine", "none", "-q", "--out"]
    assert _cli(base + [str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    assert _cli(base + [str(notes)]) == 2
    assert "not a crysbench results file" in capsys.readouterr().err
    assert notes.read_text() == "my notes"
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert _cli(base + [str(blocker / "sub" / "results.json")]) == 2
    assert "cannot create" in capsys.readouterr().err


def test_bad_prediction_files_name_id_and_cause(store_path, noisy_maps, tmp_path):
    store = crysbench.open_store(store_path)
    ids = store.ids("test")
    f = tmp_path / "bad"
    f.mkdir()
    for k in ids[6:]:
        np.save(f / f"{k}.npy", noisy_maps[k])
    (f / f"{ids[0]}.npy").write_text("0.1 0.2 0.3\n")
    np.save(f / f"{ids[1]}.npy", noisy_maps[ids[1]])
    data = (f / f"{ids[1]}.npy").read_bytes()
    (f / f"{ids[1]}.npy").write_bytes(data[: len(data) // 2])
    np.save(f / f"{ids[2]}.npy", noisy_maps[ids[2]][:, :-1])
    np.save(f / f"{ids[3]}.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    ex = store.get(ids[4])
    m = gemmi.Ccp4Map()
    wrong = gemmi.UnitCell(ex.cell.a + 1.0, ex.cell.b, ex.cell.c, 90, 90, 90)
    m.grid = gemmi.FloatGrid(noisy_maps[ids[4]], wrong, gemmi.SpaceGroup("P 1"))
    m.update_ccp4_header()
    m.write_ccp4_map(str(f / f"{ids[4]}.ccp4"))
    nan = noisy_maps[ids[5]].copy()
    nan[1, 1, 1] = np.nan
    np.save(f / f"{ids[5]}.npy", nan)
    with pytest.raises(EvaluationError) as err:
        crysbench.evaluate(f, store, engine="none", progress=False)
    msg = str(err.value)
    assert f"{ids[0]}: " in msg and "is not a NumPy .npy file" in msg
    assert f"{ids[1]}: " in msg and "truncated" in msg
    assert f"{ids[2]} (" in msg and "wrong shapes" in msg
    assert f"{ids[3]}: " in msg and "Python objects" in msg
    assert f"{ids[4]} cell" in msg and "another cell" in msg
    assert "allow_pickle" not in msg and "mmap length" not in msg
    # NaN is found while scoring (maps are read once) and reported with its id
    for k in ids[:5]:
        (f / f"{k}.npy").unlink(missing_ok=True)
        (f / f"{k}.ccp4").unlink(missing_ok=True)
        np.save(f / f"{k}.npy", noisy_maps[k])
    with pytest.raises(EvaluationError, match=f"NaN/inf: {ids[5]}"):
        crysbench.evaluate(f, store, engine="none", progress=False)


def test_containers_score_like_files(store_path, folder, noisy_maps, tmp_path):
    store = crysbench.open_store(store_path)
    ref = crysbench.evaluate(folder, store, engine="none", progress=False)
    for name in ("p.zarr", "p.npz"):
        path = write_predictions(
            tmp_path / name, noisy_maps, meta={"store_fingerprint": store.fingerprint}
        )
        assert load_predictions(path).meta["store_fingerprint"] == store.fingerprint
        res = crysbench.evaluate(path, store, engine="none", progress=False, n_jobs=2)
        assert res["examples"] == ref["examples"] and res["aggregate"] == ref["aggregate"]
    files = sum(len(fs) for _, _, fs in os.walk(tmp_path / "p.zarr"))
    shapes = {v.shape for v in noisy_maps.values()}
    assert files <= 2 * len(shapes) + 8 < len(noisy_maps)  # files per grid shape, not per map
    with pytest.raises(FileExistsError):
        write_predictions(tmp_path / "p.zarr", noisy_maps)
    with pytest.raises(FileExistsError, match="not a predictions container"):
        write_predictions(folder, noisy_maps, overwrite=True)


def test_dask_backend_matches_loky(store_path, folder):
    distributed = pytest.importorskip("distributed")
    store = crysbench.open_store(store_path)
    ref = crysbench.evaluate(folder, store, engine="none", progress=False)
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2,
                            dashboard_address=None) as client:  # fmt: skip
        res = crysbench.evaluate(
            folder, store, engine="none", progress=False, backend="dask", scheduler=client
        )
    assert res["examples"] == ref["examples"]


def test_journal_torn_line_other_run_and_changed_file(store_path, folder, noisy_maps, tmp_path):
    from crysbench.journal import JournalError, RowJournal

    store = crysbench.open_store(store_path)
    path = tmp_path / "j.jsonl"
    ref = crysbench.evaluate(folder, store, engine="none", progress=False, journal=path)
    lines = path.read_bytes().splitlines(keepends=True)
    assert len(lines) == 1 + len(noisy_maps)
    path.write_bytes(b"".join(lines[:-3]) + lines[-3][:17])  # killed mid-write
    again = crysbench.evaluate(folder, store, engine="none", progress=False, journal=path)
    assert again["examples"] == ref["examples"]
    with pytest.raises(JournalError, match="another evaluation .*engine"):
        RowJournal(path, {**json.loads(lines[0])["run"], "engine": "builtin"})
    # a prediction file replaced after its row was journalled is scored again
    key = store.ids("test")[0]
    changed = tmp_path / "changed"
    changed.mkdir()
    for k, v in noisy_maps.items():
        np.save(changed / f"{k}.npy", v)
    crysbench.evaluate(changed, store, engine="none", progress=False, journal=tmp_path / "k.jsonl")
    time.sleep(0.01)
    np.save(changed / f"{key}.npy", crysbench.open_store(store_path).get(key).density)
    res = crysbench.evaluate(changed, store, engine="none", progress=False,
                             journal=tmp_path / "k.jsonl")  # fmt: skip
    row = next(r for r in res["examples"] if r["id"] == key)
    assert row["pearson"] == pytest.approx(1.0, abs=1e-5)


def test_submit_reads_a_prediction_container(store_path, folder, noisy_maps, tmp_path):
    from crysbench import leaderboard as lb

    store = crysbench.open_store(store_path)
    meta = {
        "method": "Noisy truth", "authors": ["A. Tester"],
        "code": "https://github.com/example/noisy/tree/0123abc", "paper": None,
        "parameters": 0, "hardware": "1 CPU core", "training_time": "none",
        "training_data": "none: true maps plus noise", "extra_data": False,
    }  # fmt: skip
    board = lb.create_board(store, root=tmp_path / "leaderboards")
    zarr_path = write_predictions(tmp_path / "preds.zarr", noisy_maps)
    path = lb.submit(zarr_path, store, "noisy", meta, board=board, engine="none", progress=False)
    res = json.loads((path / "results.json").read_text())
    ref = crysbench.evaluate(folder, store, engine="none", progress=False)
    assert res["aggregate"] == ref["aggregate"] and res["examples"] == ref["examples"]
    assert lb.check_leaderboards(board.parent.parent) == []


def test_cli_dask_local_cluster(store_path, folder, tmp_path):
    pytest.importorskip("distributed")
    store = crysbench.open_store(store_path)
    ref = crysbench.evaluate(folder, store, engine="none", progress=False)
    out = tmp_path / "results.json"
    argv = [str(folder), "--store", store_path, "--engine", "none", "--backend", "dask",
            "-j", "1", "-q", "--no-plots", "--out", str(out)]  # fmt: skip
    assert _cli(argv) == 0
    assert json.loads(out.read_text())["examples"] == ref["examples"]
