"""Per-entry build results ("parts"): one compressed file per PDB entry. (io)

The per-entry stage of a build writes every example of one entry to one file,
``<PDBID>-<source hash>.part``; the assembly reads each example back once, in store
order. A part is::

    8 bytes   magic b"CRYSPRT1"
    8 bytes   little-endian length L of the header
    L bytes   header: UTF-8 JSON (recipe hash, source hash, rejections, timing and
              one compact column per example: entity, start, grid shape, sizes,
              map statistics, and the byte range of its record)
    records   one per example: Blosc (:data:`STAGING_CODEC`: LZ4, no shuffle) applied
              to a small JSON head followed by the example's reflection table and atom
              arrays

Why a file of our own and not a small zarr group per entry: the assembly reads
examples one at a time from thousands of parts (an entry's examples fall into
many grid-shape buckets), and zarr's per-call overhead (~0.5 ms per array read,
five arrays per example) alone would exceed the whole assembly budget of 1 ms per
example. Records are Blosc frames (numcodecs, the store's codec library), carry a
CRC-32, and are read with one ``pread`` each. No pickles: JSON and raw arrays only.
A part is scratch, written once and read once, so its codec trades size for speed
(:data:`STAGING_CODEC`); the store's bytes do not depend on it, and a Blosc frame names
its own compressor, so parts written with the store's codec by earlier releases (still
in a build cache) read the same.

Examples
--------
>>> import tempfile, numpy as np
>>> rec = {"head": {"id": "X_1.pd_1"}, "refl": np.ones((2, 5), np.float32),
...        "element": np.array([6], np.uint8), "name": np.zeros((1, 4), np.uint8),
...        "residue": np.zeros(1, np.int16), "xyz": np.zeros((1, 3), np.float32)}
>>> path = tempfile.mkdtemp() + "/X.part"
>>> write_part(path, {"pdb_id": "X"}, [({"entity": 1}, rec)])
>>> header = read_header(path)
>>> back = read_record(path, header["examples"]["offset"][0], header["examples"]["length"][0],
...                    header["examples"]["crc32"][0])
>>> back["head"]["id"], back["refl"].shape
('X_1.pd_1', (2, 5))
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "STAGING_CODEC",
    "PartError",
    "RECORD_ARRAYS",
    "write_part",
    "read_header",
    "read_record",
    "PartFiles",
]

MAGIC = b"CRYSPRT1"
FORMAT = 1

#: Arrays of one example record: name -> (dtype, trailing shape, size key).
RECORD_ARRAYS: dict[str, tuple[str, tuple[int, ...], str]] = {
    "refl": ("<f4", (5,), "n_refl"),
    "element": ("u1", (), "n_atom"),
    "name": ("u1", (4,), "n_atom"),
    "residue": ("<i2", (), "n_atom"),
    "xyz": ("<f4", (3,), "n_atom"),
}


class PartError(RuntimeError):
    """A per-entry result file that is truncated, damaged or of another format."""


#: The parts' codec, decided here once: Blosc LZ4 level 5 without shuffle (the records
#: mix JSON, float32 and uint8 arrays, which byte shuffle does not help). Against the
#: store's codec (:data:`crysbench.store.CODEC`, zstd 1 with shuffle) on the bundled
#: const-res records it encodes 2.24x and decodes 5.25x faster (0.13 vs 0.29 and 0.031
#: vs 0.16 CPU-ms a 130 KB record), for 1.10x the bytes (dipeptide 1.15x): scratch stays
#: well inside the 1.5x-store budget (1.11x const-res, 1.27x dipeptide in
#: ``benchmarks/logs/scale.txt``). `python benchmarks/codecs.py` (log
#: ``benchmarks/logs/codecs.txt``) measures both.
STAGING_CODEC = {"cname": "lz4", "clevel": 5, "shuffle": "noshuffle"}

_CODEC = []


def staging_codec() -> Any:
    """:data:`STAGING_CODEC` as a numcodecs Blosc codec (it decodes any Blosc frame)."""
    from crysbench.store_format import blosc_codec

    return blosc_codec(STAGING_CODEC, typesize=1)  # bytes: no word structure to shuffle


def _codec():
    if not _CODEC:
        from numcodecs import blosc

        # A build runs one process per core, so Blosc's own threads only add overhead:
        # 0.23 → 0.18 CPU-ms to encode a 124 KB record, 0.16 → 0.13 to decode it
        # (`python benchmarks/codecs.py`). Same bytes either way.
        blosc.use_threads = False
        _CODEC.append(staging_codec())
    return _CODEC[0]


def _encode(head: dict, arrays: dict[str, np.ndarray]) -> bytes:
    sizes = {"n_refl": len(arrays["refl"]), "n_atom": len(arrays["element"])}
    meta = json.dumps({**head, **sizes}, separators=(",", ":")).encode()
    meta += b" " * (-(len(meta) + 4) % 8)  # arrays start 8-byte aligned (shuffle sees words)
    parts = [struct.pack("<I", len(meta)), meta]
    for name, (dtype, tail, _) in RECORD_ARRAYS.items():
        a = np.ascontiguousarray(arrays[name], dtype=dtype)
        if a.shape[1:] != tail:
            raise ValueError(f"record array {name}: shape {a.shape}, expected (n, *{tail})")
        parts.append(a.tobytes())
    return bytes(_codec().encode(b"".join(parts)))


def write_part(path: str | Path, header: dict, examples: list[tuple[dict, dict]]) -> None:
    """Write one entry's examples atomically (temp file, fsync, rename).

    Parameters
    ----------
    path : str or Path
        Destination ``.part`` file.
    header : dict
        JSON-able entry-level fields (pdb id, recipe hash, rejections, timing, ...).
    examples : list of (columns, record)
        ``columns``: JSON-able per-example fields kept in the header (small numbers);
        ``record``: ``{"head": dict, "refl": (n, 5) float32, "element", "name",
        "residue", "xyz"}`` — what the assembly writes into the store.
    """
    path = Path(path)
    blobs = []
    cols: dict[str, list] = {}
    offset = 0
    for columns, record in examples:
        blob = _encode(record["head"], record)
        n_refl, n_atom = len(record["refl"]), len(record["element"])
        row = {**columns, "n_refl": n_refl, "n_atom": n_atom, "length": len(blob)}
        row["offset"], row["crc32"] = offset, zlib.crc32(blob)
        for k, val in row.items():
            cols.setdefault(k, []).append(val)
        blobs.append(blob)
        offset += len(blob)
    head = json.dumps(
        {"format": FORMAT, **header, "n_examples": len(blobs), "examples": cols},
        separators=(",", ":"),
    ).encode()
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(MAGIC + struct.pack("<Q", len(head)) + head)
        for b in blobs:
            f.write(b)
    # atomic: a killed worker leaves only a *.tmp-* file. No fsync (3 ms an entry): after
    # a power loss a part may hold garbage, which its size and CRC checks reveal.
    os.replace(tmp, path)


def read_header(path: str | Path) -> dict[str, Any]:
    """The JSON header of a part (entry fields and per-example columns).

    ``header["examples"]["offset"]`` holds absolute byte offsets of the records.
    """
    try:
        with open(path, "rb") as f:
            magic = f.read(8)
            if magic != MAGIC:
                raise PartError(f"{path}: not a crysbench part file")
            (n,) = struct.unpack("<Q", f.read(8))
            raw = f.read(n)
            end = f.seek(0, os.SEEK_END)
    except (OSError, struct.error) as exc:
        raise PartError(f"{path}: unreadable part file ({exc})") from None
    if len(raw) != n:
        raise PartError(f"{path}: truncated part file")
    try:
        header = json.loads(raw)
    except ValueError as exc:
        raise PartError(f"{path}: damaged header ({exc})") from None
    ex = header.get("examples", {})
    start = len(MAGIC) + 8 + n  # record offsets are stored relative to the header's end
    ex["offset"] = [start + o for o in ex.get("offset", [])]
    if ex["offset"]:
        last = ex["offset"][-1] + ex["length"][-1]
        if last != end:
            raise PartError(f"{path}: truncated part file ({end} of {last} bytes)")
    return header


def _decode(blob: bytes, path: str) -> dict:
    raw = np.frombuffer(_codec().decode(blob), dtype=np.uint8)  # no copy of the record
    (m,) = struct.unpack("<I", raw[:4].tobytes())
    head = json.loads(raw[4 : 4 + m].tobytes())
    out: dict[str, Any] = {"head": head}
    pos = 4 + m
    sizes = {"n_refl": head["n_refl"], "n_atom": head["n_atom"]}
    for name, (dtype, tail, size) in RECORD_ARRAYS.items():
        count = sizes[size] * int(np.prod(tail, dtype=np.int64))
        nbytes = count * np.dtype(dtype).itemsize
        out[name] = raw[pos : pos + nbytes].view(dtype).reshape((sizes[size],) + tail)
        pos += nbytes
    if pos != len(raw):
        raise PartError(f"{path}: record of {head.get('id')} has the wrong size")
    return out


def read_record(path: str | Path, offset: int, length: int, crc: int) -> dict:
    """One example record of a part, checked against its CRC-32."""
    with open(path, "rb") as f:
        return _read(f, str(path), offset, length, crc)


def _read(f, path: str, offset: int, length: int, crc: int) -> dict:
    blob = os.pread(f.fileno(), length, offset)
    if len(blob) != length or zlib.crc32(blob) != crc:
        raise PartError(f"{path}: damaged record at byte {offset} (CRC mismatch)")
    return _decode(blob, path)


class PartFiles:
    """Reads records from many parts with at most ``max_open`` files open at once.

    Examples
    --------
    >>> files = PartFiles(max_open=8)
    >>> files.close()
    """

    def __init__(self, max_open: int = 32):
        import collections

        self.max_open = max_open
        self._open: collections.OrderedDict[str, Any] = collections.OrderedDict()

    def read(self, path: str, offset: int, length: int, crc: int) -> dict:
        f = self._open.get(path)
        if f is None:
            f = open(path, "rb")  # noqa: SIM115 - kept open in a bounded LRU
            self._open[path] = f
            if len(self._open) > self.max_open:
                _, old = self._open.popitem(last=False)
                old.close()
        else:
            self._open.move_to_end(path)
        return _read(f, path, offset, length, crc)

    def close(self) -> None:
        for f in self._open.values():
            f.close()
        self._open.clear()

    def __enter__(self) -> PartFiles:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
