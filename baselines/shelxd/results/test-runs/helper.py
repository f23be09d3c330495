"""Solve the remaining test ids of a running solve in reverse order into <out>-rev (same settings).

Stops before an id the main run has finished or is working on (the first id it lacks).
"""
import csv, sys
from pathlib import Path
from crysbench.store import open_store
from baselines.shelxd.predict import solve_store

store_path, out, trials = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
store = open_store(store_path)
ids = list(store.ids("test"))
rev = Path(str(out) + "-rev")

def main_done():
    with open(out / "trials.csv") as fh:
        return {r["id"] for r in csv.DictReader(fh)}

for i in reversed(ids):
    done = main_done()
    current = next((j for j in ids if j not in done), None)
    if i in done or i == current:
        break
    solve_store(store, "test", rev, ids=[i], trials=trials, hand=False, progress=True)
print("helper stopped", flush=True)
