"""Per-example random streams pinned to SHA-256 (recipes @2, SPEC §2).

NumPy promises stable *bit generators*, not stable ``Generator`` methods: the
arithmetic that turns bits into ``uniform`` or ``choice`` values may change between
releases, and with it the examples of a recipe. Recipes @2 therefore draw from
:class:`PinnedStream`: 64-bit words are the first 8 bytes (little endian) of
``SHA-256("<seed>:<example id>:<stream>:<counter>")``, counter = 0, 1, 2, …, and every
value is made from them with the arithmetic written here (IEEE-754 double, exact
operations only), so neither a NumPy nor a Python upgrade can move a draw.

- ``random()``: ``(word >> 11) · 2⁻⁵³``, uniform on [0, 1) with 53 random bits.
- ``uniform(lo, hi)``: ``lo + (hi − lo) · random()``.
- ``choice_index(probs)``: the first ``i`` with ``random() · Σp < p₀ + … + pᵢ``
  (sums in order, in double precision).

Examples
--------
>>> from crysbench.streams import PinnedStream
>>> s = PinnedStream(20240601, "3HSY_1.pd_11", "resolution")
>>> hex(s.raw64())
'0x779231aa60167a09'
>>> t = PinnedStream(20240601, "3HSY_1.pd_11", "resolution")
>>> t.raw64() == PinnedStream(20240601, "3HSY_1.pd_11", "resolution").raw64()
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = ["PinnedStream", "BIT_GENERATOR"]

#: Name recorded in the recipe for this stream construction.
BIT_GENERATOR = "sha256-counter"

_TWO_M53 = 1.0 / 9007199254740992.0  # 2**-53, exact


class PinnedStream:
    """Counter-mode SHA-256 stream of one (seed, example id, stream name).

    Parameters
    ----------
    seed : int
        The recipe's seed.
    example_id : str
        ``PDBID_ENTITY.pd_N``.
    stream : str
        Name of the use (``"cell"``, ``"resolution"``), so uses never share words.
    """

    def __init__(self, seed: int, example_id: str, stream: str) -> None:
        self._prefix = f"{seed}:{example_id}:{stream}:".encode()
        self._counter = 0

    def raw64(self) -> int:
        """Next 64-bit word (an int in [0, 2⁶⁴))."""
        digest = hashlib.sha256(self._prefix + str(self._counter).encode()).digest()
        self._counter += 1
        return int.from_bytes(digest[:8], "little")

    def random(self) -> float:
        """Uniform double in [0, 1), 53 random bits.

        >>> 0.0 <= PinnedStream(1, "x", "y").random() < 1.0
        True
        """
        return (self.raw64() >> 11) * _TWO_M53

    def uniform(self, lo: float, hi: float) -> float:
        """Uniform double in [lo, hi).

        >>> 1.6 <= PinnedStream(1, "x", "y").uniform(1.6, 2.25) < 2.25
        True
        """
        return lo + (hi - lo) * self.random()

    def choice_index(self, probs: Sequence[float]) -> int:
        """Index drawn with the given (not necessarily normalised) weights.

        >>> PinnedStream(1, "x", "y").choice_index([0.0, 1.0, 0.0])
        1
        """
        total = 0.0
        for p in probs:
            total += float(p)
        u = self.random() * total
        acc = 0.0
        last = 0
        for i, p in enumerate(probs):
            if p <= 0:
                continue
            acc += float(p)
            last = i
            if u < acc:
                return i
        return last  # u rounded to the total: the last index with weight
