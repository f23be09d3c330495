"""Store codec choice: encode/decode speed and size of Blosc settings on real reflections.

Run:  python benchmarks/codecs.py [--store STORE]

Two build-side figures follow, on the same rows: a 124 KB example record (the staging
record) encoded and decoded with Blosc's own threads on and off (CPU ms), and one
whole 256-chunk shard stored through zarr-python against
:class:`crysbench.shards.ShardEncoder` (CPU s, same bytes; the anchor is zarr). Last,
the staging codec (:data:`crysbench.staging.STAGING_CODEC`) against the store's codec
(the anchor) on the real part records of the bundled entries, const-res and dipeptide:
size/raw and CPU ms to encode and decode a record.

Without ``--store`` it builds the bundled const-res demo (no cache) first. The
reflection table (Re F, Im F, h, k, l as float32) is ~95 % of a store's bytes; each
setting compresses the same 700,000 rows. Anchor in the same run: the previous
choice, zstd level 3. The store uses the row marked ``*`` (:data:`crysbench.store.CODEC`).
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numcodecs

from crysbench.build import build_store
from crysbench.store import CODEC, open_store

SETTINGS = [("zstd", 3, 1), ("zstd", 1, 1), ("zstd", 1, 2), ("lz4", 5, 1), ("zstd", 5, 1)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store")
    args = p.parse_args()
    path = args.store
    if path is None:
        path = tempfile.mkdtemp() + "/const-res.zarr"
        build_store("const-res", out=path, progress=False, no_cache=True, jobs=2)
    store = open_store(path)
    raw = store.root["reflections"][: min(700_000, store.root["reflections"].shape[0])].tobytes()
    rows = []
    for cname, level, shuffle in SETTINGS:
        c = numcodecs.Blosc(cname=cname, clevel=level, shuffle=shuffle, typesize=4)
        enc = min(_time(lambda c=c: c.encode(raw)) for _ in range(3))
        blob = c.encode(raw)
        dec = min(_time(lambda c=c, b=blob: c.decode(b)) for _ in range(3))
        rows.append((cname, level, shuffle, len(blob) / len(raw), len(raw) / enc, len(raw) / dec))
    anchor = rows[0]
    print(f"{len(raw) / 1e6:.1f} MB of reflections from {path}")
    print("codec  level shuffle  size/raw  encode MB/s  decode MB/s  encode vs zstd-3")
    for r in rows:
        mark = "*" if (r[0], r[1]) == (CODEC["cname"], CODEC["clevel"]) and r[2] == 1 else " "
        print(
            f"{mark}{r[0]:<5} {r[1]:>5} {r[2]:>7}  {r[3]:8.3f}  {r[4] / 1e6:11.0f}  "
            f"{r[5] / 1e6:11.0f}  {r[4] / anchor[4]:6.2f}x"
        )
    build_side(raw)
    staging_side()


def build_side(raw: bytes) -> None:
    """CPU cost of the build's own codec paths (see the module docstring)."""
    import tempfile

    import numpy as np
    import zarr
    from numcodecs import blosc

    from crysbench.shards import ShardEncoder
    from crysbench.store import blosc_codec, compressor

    rows = np.frombuffer(raw, dtype="<f4").reshape(-1, 5)
    record = rows[:6200].tobytes()  # ~124 KB, a const-res example's reflections
    codec = blosc_codec()
    blob = codec.encode(record)
    print("record (124 KB)   blosc threads  encode CPU ms  decode CPU ms")
    for threads in (None, False):
        blosc.use_threads = threads
        enc = min(_cpu(lambda: codec.encode(record), 200) for _ in range(3))
        dec = min(_cpu(lambda: codec.decode(blob), 200) for _ in range(3))
        print(f"                  {threads!s:>13}  {enc * 1e3:13.3f}  {dec * 1e3:13.3f}")
    blosc.use_threads = False
    n = 8192 * 256
    shard = np.resize(rows, (n, 5))
    out = tempfile.mkdtemp()
    res = {}
    for name in ("zarr", "ShardEncoder"):
        arr = zarr.create_array(
            f"{out}/{name}.zarr", shape=(n, 5), dtype="f4", chunks=(8192, 5), shards=(n, 5),
            compressors=compressor(),
        )  # fmt: skip
        enc = ShardEncoder.for_array(arr)

        def write(arr=arr, enc=enc, name=name):
            if name == "zarr":
                arr[:] = shard
            else:
                enc.write(0, shard)

        res[name] = min(_cpu(write, 1) for _ in range(3))
    same = (
        open(f"{out}/zarr.zarr/c/0/0", "rb").read()
        == open(f"{out}/ShardEncoder.zarr/c/0/0", "rb").read()
    )
    print(
        f"one shard ({shard.nbytes / 1e6:.0f} MB): zarr {res['zarr']:.3f} CPU s, ShardEncoder "
        f"{res['ShardEncoder']:.3f} CPU s ({res['zarr'] / res['ShardEncoder']:.2f}x), "
        f"same bytes: {same}"
    )


def staging_side() -> None:
    """The parts' codec against the store's on the bundled entries' records."""
    from numcodecs import blosc

    from crysbench.build_entry import _generate
    from crysbench.staging import STAGING_CODEC, _encode, staging_codec
    from crysbench.store import blosc_codec
    from crysbench.structures import bundled_entries

    blosc.use_threads = False
    print("staging records   codec                      size/raw  encode CPU ms  decode CPU ms")
    for variant in ("const-res@2", "dipeptide@2"):
        recs = []
        for pid, path in sorted(bundled_entries().items()):
            recs += [r for _, r in _generate(str(path), pid, variant)[0]]
        raws = [bytes(staging_codec().decode(_encode(r["head"], r))) for r in recs]
        total = sum(len(r) for r in raws)
        codecs = [
            ("store CODEC (anchor)", blosc_codec()),
            (" ".join(map(str, STAGING_CODEC.values())) + " (staging)", staging_codec()),
        ]
        out = []
        for name, c in codecs:
            blobs = [c.encode(r) for r in raws]
            enc = min(_cpu(lambda c=c, rs=raws: [c.encode(r) for r in rs], 1) for _ in range(3))
            dec = min(_cpu(lambda c=c, b=blobs: [c.decode(x) for x in b], 1) for _ in range(3))
            size = sum(len(b) for b in blobs) / total
            out.append((name, size, enc / len(raws), dec / len(raws)))
        for name, size, enc, dec in out:
            print(
                f"{variant:<12} ({len(raws)}, {total / len(raws) / 1e3:.0f} KB) {name:<26}"
                f" {size:8.3f}  {enc * 1e3:13.3f}  {dec * 1e3:13.3f}"
            )
        a, b = out
        print(
            f"{variant:<12} staging vs store: encode {a[2] / b[2]:.2f}x, decode {a[3] / b[3]:.2f}x"
            f" faster, bytes {b[1] / a[1]:.2f}x"
        )


def _cpu(fn, k: int) -> float:
    t = time.process_time()
    for _ in range(k):
        fn()
    return (time.process_time() - t) / k


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
