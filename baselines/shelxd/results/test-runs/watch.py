"""Kill the main solve of a variant once main + reverse helper cover the split; merge into main."""
import csv, os, shutil, signal, sys, time
from pathlib import Path
from crysbench.store import open_store

store_path, out, main_pid = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
ids = list(open_store(store_path).ids("test"))
rev = Path(str(out) + "-rev")

def done(d, name="trials.csv"):
    p = d / name
    if not p.exists():
        return set()
    with open(p) as fh:
        return {r["id"] for r in csv.DictReader(fh) if (d / f"{r['id']}.npy").exists()}

while True:
    m, r = done(out), done(rev)
    if set(ids) <= m | r:
        break
    time.sleep(10)
try:
    os.kill(main_pid, signal.SIGTERM)
except ProcessLookupError:
    pass
time.sleep(3)
for name in ("trials.csv", "trials_detail.csv"):
    if not (rev / name).exists():
        continue
    with open(out / name) as fh:
        have = {row["id"] for row in csv.DictReader(fh)} if name == "trials.csv" else None
    rows = list(csv.DictReader(open(rev / name)))
    keep_ids = {x["id"] for x in csv.DictReader(open(rev / "trials.csv"))} - done(out)
    with open(out / name, "a", newline="") as fh:
        w = csv.DictWriter(fh, list(rows[0]))
        w.writerows(x for x in rows if x["id"] in keep_ids)
for i in done(rev) - done(out):
    shutil.copy2(rev / f"{i}.npy", out / f"{i}.npy")
print("merged", sorted(done(out)) == sorted(ids), time.ctime(), flush=True)
