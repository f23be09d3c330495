"""Moved to :mod:`crysbench.leaderboard.meta` (``meta.json`` fields, entry names) and
:mod:`crysbench.leaderboard.submission` (the folder checks); this name stays for old
imports and re-exports both."""

from crysbench.leaderboard import meta as _meta
from crysbench.leaderboard import submission as _checks

__all__ = list(dict.fromkeys([*_meta.__all__, *_checks.__all__]))
globals().update({n: getattr(_meta if hasattr(_meta, n) else _checks, n) for n in __all__})
