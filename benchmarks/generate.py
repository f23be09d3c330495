"""Example generation speed per core, by stage, against the paper's per-example CLI pipeline.

Run:  python benchmarks/generate.py [--n 30]

Anchor (same run, same examples): the paper's style — write each fragment as a PDB
file, one `gemmi sfcalc` process for the structure factors and one `gemmi sf2map`
process per map (`pip install gemmi-program` provides the `gemmi` CLI). Skipped with a
note when the CLI is absent.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from crysbench.example import make_example
from crysbench.segments import cut_segments
from crysbench.structures import bundled_entries, read_entry


def segments(variant: str, n: int):
    from crysbench.variants import get_variant

    v = get_variant(variant)
    out = []
    for pid in ("3HSY", "1A28", "4ZHL", "1A8O"):
        segs, _ = cut_segments(read_entry(bundled_entries()[pid]), v.segment_length, v.stride)
        out.extend(segs)
    return out[:n]


def ours(variant: str, segs) -> dict:
    t = {"cell": 0.0, "structure_factors": 0.0, "maps": 0.0}
    exs = []
    for s in segs:
        ex = make_example(s, variant)
        t["cell"] += ex.timings["cell"]
        t["structure_factors"] += ex.timings["structure_factors"]
        t0 = time.perf_counter()
        ex.density, ex.patterson  # noqa: B018
        t["maps"] += time.perf_counter() - t0
        exs.append(ex)
    return {k: v / len(segs) for k, v in t.items()}, exs


def anchor(exs) -> float | None:
    gemmi_cli = shutil.which("gemmi")
    if gemmi_cli is None:
        return None
    tmp = Path(tempfile.mkdtemp())
    t0 = time.perf_counter()
    for ex in exs:
        pdb = tmp / f"{ex.id}.pdb"
        ex.structure.write_pdb(str(pdb))
        mtz = tmp / f"{ex.id}.mtz"
        subprocess.run(
            [gemmi_cli, "sfcalc", f"--dmin={ex.dmin}", f"--to-mtz={mtz}", str(pdb)],
            check=True,
            capture_output=True,
        )
        for name in ("density", "patterson"):
            cmd = [
                gemmi_cli,
                "sf2map",
                "-f",
                "FC",
                "-p",
                "PHIC",
                f"--sample={ex.rate}",
                str(mtz),
                str(tmp / f"{name}.ccp4"),
            ]
            # gemmi 0.7's `sf2map --pow=2` rejects sfcalc's labels, so the Patterson
            # process is timed as a second plain sf2map run (same cost profile)
            subprocess.run(cmd, check=True, capture_output=True)
    dt = (time.perf_counter() - t0) / len(exs)
    shutil.rmtree(tmp, ignore_errors=True)
    return dt


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=30)
    args = p.parse_args()
    print(
        f"{'variant':<10} {'cell ms':>8} {'SF ms':>8} {'maps ms':>8} {'total ms':>9} "
        f"{'ex/s/core':>10} {'CLI ms':>8} {'speed-up':>9}"
    )
    for variant in ("dipeptide", "const-res", "var-res"):
        segs = segments(variant, args.n)
        t, exs = ours(variant, segs)
        total = sum(t.values())
        a = anchor(exs[:10])
        ratio = f"{a / total:9.1f}" if a else "      n/a"
        a_txt = f"{a * 1e3:8.1f}" if a else "     n/a"
        print(
            f"{variant:<10} {t['cell'] * 1e3:8.2f} {t['structure_factors'] * 1e3:8.2f} "
            f"{t['maps'] * 1e3:8.2f} {total * 1e3:9.2f} {1 / total:10.1f} {a_txt} {ratio}"
        )
    print("\ntarget: <= 5 ms per const-res example (cell + SF + maps); >= 4x the CLI pipeline")
    _ = np  # numpy imported for users extending the benchmark


if __name__ == "__main__":
    main()
