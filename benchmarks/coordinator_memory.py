"""Where a build's coordinator memory goes: Python/numpy allocations vs peak RSS.

Run:  python benchmarks/coordinator_memory.py [--variant dipeptide] [--repeat 20] [--jobs 2]

Builds the bundled entries replicated ``repeat`` times (as `benchmarks/build.py --repeat`)
once to fill a private cache, then again from the warm cache with `tracemalloc` on, and
prints the traced peak (everything Python and NumPy allocate in this process) beside the
process's peak RSS, with the largest allocation sites before the finish step. The gap
between the two is native memory tracemalloc does not see (zarr/blosc buffers, malloc
arenas). Anchor, in the same run: the RSS of the interpreter after importing crysbench.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build import _entries  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variant", default="dipeptide")
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--jobs", type=int, default=2)
    args = p.parse_args()
    import crysbench.assemble as assemble
    import crysbench.build as build

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tmp = Path(tempfile.mkdtemp())
    entries = _entries(args.repeat)
    kw = dict(jobs=args.jobs, progress=False, entries=entries, cache_dir=str(tmp / "cache"))
    out = str(tmp / "s.zarr")
    build.build_store(args.variant, out=out, **kw)
    after_cold = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    snaps = {}
    finish = assemble.finish_store

    def traced_finish(*a, **k):
        snaps["before finish"] = tracemalloc.take_snapshot()
        return finish(*a, **k)

    build.finish_store = traced_finish
    tracemalloc.start(5)
    rep = build.build_store(args.variant, out=out, overwrite=True, **kw)
    _, peak = tracemalloc.get_traced_memory()
    print(f"{args.variant} x{args.repeat}: {rep['n_examples']:,} examples, jobs={args.jobs}")
    print(
        f"RSS after imports (anchor): {base:.0f} MB; peak RSS after the cold build "
        f"{after_cold:.0f} MB, after the warm build "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )
    print(f"tracemalloc peak of the warm build (Python + NumPy): {peak / 2**20:.1f} MB")
    for st in snaps["before finish"].statistics("lineno")[:8]:
        print("   ", st)


if __name__ == "__main__":
    main()
