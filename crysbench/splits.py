"""Train / validation / test assignment by PDB entry, and split fingerprints (SPEC §4).

The split of an entry is a pure function of its PDB id and the recipe's split key
(a keyed SHA-256 hash), so adding entries never moves an existing one, every
segment of an entry lands on the same side, and about ``test_fraction`` of the
entries go to test.

Examples
--------
>>> from crysbench.splits import assign_split
>>> assign_split("1A8O", "crysbench-split-v1", 0.10, 0.05) in ("train", "valid", "test")
True
>>> assign_split("1a8o", "k", 0.10, 0.05) == assign_split("1A8O", "k", 0.10, 0.05)
True
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable

import numpy as np

#: The one-byte code of each split in a store's ``meta/split`` column.
SPLIT_CODES = {"train": 0, "valid": 1, "test": 2}

__all__ = ["assign_split", "split_fingerprint", "split_uniform", "shipped_split"]


def split_uniform(pdb_id: str, key: str) -> float:
    """A number in [0, 1) fixed by (key, PDB id)."""
    digest = hashlib.sha256(f"{key}:{pdb_id.upper()}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def assign_split(pdb_id: str, key: str, test_fraction: float, valid_fraction: float) -> str:
    """``"test"``, ``"valid"`` or ``"train"`` for one PDB entry.

    ``key``, ``test_fraction`` and ``valid_fraction`` are the recipe's ``split_key``,
    ``test_fraction`` and ``valid_fraction`` (:class:`crysbench.variants.Variant`).
    """
    u = split_uniform(pdb_id, key)
    if u < test_fraction:
        return "test"
    if u < test_fraction + valid_fraction:
        return "valid"
    return "train"


def split_fingerprint(ids: Iterable[str], checksums: Iterable[str]) -> str:
    """SHA-256 over sorted ``id:checksum`` lines: fixes the ids *and* their maps."""
    return fingerprint_lines(f"{i}:{c}".encode() for i, c in zip(ids, checksums))


def fingerprint_lines(lines: Iterable[bytes] | np.ndarray) -> str:
    """The split fingerprint from its ``id:checksum`` lines, UTF-8 encoded, in any order.

    Byte order of UTF-8 is code-point order, so this equals :func:`split_fingerprint`.

    Examples
    --------
    >>> fingerprint_lines([b"b:2", b"a:1"]) == split_fingerprint(["a", "b"], ["1", "2"])
    True
    >>> fingerprint_lines(np.array([b"b:2", b"a:1"])) == fingerprint_lines([b"a:1", b"b:2"])
    True

    A NumPy bytes array (a build's merged lines) is sorted and hashed in chunks, so a
    test split of millions of lines never becomes one Python list or one joined string.
    """
    h = hashlib.sha256()
    if isinstance(lines, np.ndarray):
        arr = np.sort(lines.astype(bytes, copy=False).reshape(-1))
        for lo in range(0, len(arr), 1 << 16):
            h.update((b"\n" if lo else b"") + b"\n".join(arr[lo : lo + (1 << 16)].tolist()))
        return h.hexdigest()
    h.update(b"\n".join(sorted(lines)))
    return h.hexdigest()


def shipped_split(variant: str, split: str) -> tuple[list[str], str | None]:
    """Frozen id list of the bundled demo's split, and its test fingerprint.

    The lists in ``crysbench/data/splits/<variant@version>/`` are committed once per
    released version; a build of the bundled entries must reproduce them exactly.
    Read once per (recipe, split).

    Examples
    --------
    >>> ids, fingerprint = shipped_split("const-res@1", "test")
    >>> len(ids), len(fingerprint)
    (24, 64)
    """
    from crysbench.variants import get_variant

    ids, fingerprint = _read_shipped(get_variant(variant).key, split)
    return list(ids), fingerprint


@functools.cache
def _read_shipped(key: str, split: str) -> tuple[tuple[str, ...], str | None]:
    from importlib import resources

    root = resources.files("crysbench") / "data" / "splits" / key
    ids = tuple((root / f"{split}.txt").read_text().split())
    fp = root / "test.fingerprint"
    return ids, (fp.read_text().strip() if fp.is_file() else None)
