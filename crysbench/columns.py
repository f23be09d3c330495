"""Column-wise metadata of a store, read on first use (no per-example Python objects).

Opening a store must stay cheap at 400,000 examples: :class:`LazyColumns` maps a column
name to its numpy array and reads each column (one sharded zarr array) only when it is
first asked for; :class:`LazyIndex` builds the id → row lookup only when an id is first
looked up, with one vectorised sort instead of a dict of 400,000 Python strings.

Examples
--------
>>> import numpy as np, zarr
>>> g = zarr.group()
>>> g.create_array("id", shape=(3,), dtype=str)[:] = np.array(["b", "a", "c"])
>>> cols = LazyColumns(g)
>>> sorted(cols), cols.loaded
(['id'], [])
>>> LazyIndex(cols)["c"], cols.loaded
(2, ['id'])
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

__all__ = ["LazyColumns", "LazyIndex"]


class LazyColumns(Mapping):
    """Read-only mapping column name → ndarray over a zarr group, each read once.

    Parameters
    ----------
    group : zarr.Group
        One array per column, one row per example.
    """

    def __init__(self, group: Any):
        self._group = group
        self._names = sorted(group.array_keys())
        self._data: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._data:
            if name not in self._names:
                raise KeyError(name)
            try:
                self._data[name] = self._group[name][...]
            except Exception as exc:  # a chunk that does not decode or fit its shape
                from crysbench.store_format import StoreError

                raise StoreError(
                    f"meta/{name}: damaged store, its metadata cannot be read "
                    f"({type(exc).__name__}: {exc}); rebuild it or fetch it again"
                ) from None
        return self._data[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    @property
    def loaded(self) -> list[str]:
        """Columns read so far."""
        return sorted(self._data)

    def length(self) -> int:
        """Number of rows, from array metadata (no column is read)."""
        name = "split" if "split" in self._names else self._names[0]
        if name in self._data:
            return len(self._data[name])
        return int(self._group[name].shape[0])


class LazyIndex:
    """id → row lookup over the ``id`` column, built on first use by one argsort."""

    def __init__(self, columns: Mapping[str, np.ndarray]):
        self._columns = columns
        self._sorted: np.ndarray | None = None
        self._order: np.ndarray | None = None

    def _build(self) -> None:
        ids = np.asarray(self._columns["id"])
        self._order = np.argsort(ids, kind="stable")
        self._sorted = ids[self._order]

    def get(self, example_id: str, default: int | None = None) -> int | None:
        """Row of ``example_id``, or ``default``."""
        if self._sorted is None:
            self._build()
        assert self._sorted is not None and self._order is not None
        if not isinstance(example_id, str) or not len(self._sorted):
            return default
        i = int(np.searchsorted(self._sorted, example_id))
        if i < len(self._sorted) and self._sorted[i] == example_id:
            return int(self._order[i])
        return default

    def __getitem__(self, example_id: str) -> int:
        row = self.get(example_id)
        if row is None:
            raise KeyError(example_id)
        return row

    def __contains__(self, example_id: object) -> bool:
        return isinstance(example_id, str) and self.get(example_id) is not None
