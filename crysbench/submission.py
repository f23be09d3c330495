"""Moved to :mod:`crysbench.leaderboard.submission`; this name stays for old imports."""

from crysbench.leaderboard import submission as _moved

__all__ = list(_moved.__all__)
globals().update({name: getattr(_moved, name) for name in __all__})
