"""Data for RecCrysFormer: a crysbench store split, or an in-memory bundled-entry split.

Both sources expose the interface of :class:`crysbench.load.SplitDataset` that the
training loop needs: ``ids``, ``buckets`` (grid shape -> positions), ``scales``
(``{"density": s, "patterson": s}``), ``cell_of(id)`` and ``get_batch(positions)``
returning numpy arrays. :func:`iterate_batches` turns either into torch batches::

    {"id": [...], "patterson": (B,1,nu,nv,nw), "density": (B,1,nu,nv,nw),
     "residues": (B,J,24,24,24), "sequence": [...], "cell": (B,6)}

with maps divided by the training-split scale constants (paper: to [-1, 1]).

* ``open_splits(store="dipeptide.zarr")``: the store's train, valid and test splits
  (:func:`crysbench.load_split`, lazy import).
* ``open_splits(bundled="dipeptide")``: examples generated in memory from the
  package's bundled PDB entries (curated), split by PDB entry: the ``n_test`` entries
  with the lowest keyed-hash value of the variant's split key go to test, the next
  ``n_valid`` to valid (the store draws its splits from the same hash with the
  variant's fractions, so the bundled and the store splits need not coincide).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

__all__ = ["BundledSplit", "open_splits", "iterate_batches", "batch_plan"]


class BundledSplit:
    """An in-memory split of examples (numpy maps in physical units).

    Parameters
    ----------
    examples : list of crysbench.Example
    scales : dict, optional
        ``{"density": s, "patterson": s}``; default: max |value| over ``examples``.
    """

    def __init__(self, examples: list, scales: dict | None = None) -> None:
        self._examples = list(examples)
        self.ids = [ex.id for ex in examples]
        self._pos = {i: n for n, i in enumerate(self.ids)}
        self.patterson = [ex.patterson for ex in examples]
        self.density = [ex.density for ex in examples]
        self.sequence = [ex.sequence for ex in examples]
        self.cells = np.array([ex.cell.parameters for ex in examples], dtype=np.float64)
        self.shapes = [tuple(ex.grid_shape) for ex in examples]
        self.buckets: dict[tuple, np.ndarray] = {}
        for shape in sorted(set(self.shapes)):
            self.buckets[shape] = np.array([i for i, s in enumerate(self.shapes) if s == shape])
        if scales is None:
            scales = {
                "density": max(float(np.abs(m).max()) for m in self.density),
                "patterson": max(float(np.abs(m).max()) for m in self.patterson),
            }
        self.scales = dict(scales)

    def __len__(self) -> int:
        return len(self.ids)

    def example(self, example_id: str):
        """The :class:`crysbench.Example` of one id."""
        return self._examples[self._pos[example_id]]

    def cell_of(self, example_id: str) -> tuple:
        """Cell parameters (a, b, c, α, β, γ) of one example."""
        return tuple(self.cells[self._pos[example_id]])

    def get_batch(self, positions: Sequence[int]) -> dict:
        """Stacked, normalised arrays of examples of one grid shape."""
        positions = [int(p) for p in positions]
        shapes = {self.shapes[p] for p in positions}
        if len(shapes) != 1:
            raise ValueError(f"a batch must hold one grid shape, got {sorted(shapes)}")
        from crysbench.residue_density import residue_cubes

        seqs = [self.sequence[p] for p in positions]
        return {
            "id": [self.ids[p] for p in positions],
            "patterson": np.stack([self.patterson[p] for p in positions])
            / np.float32(self.scales["patterson"]),
            "density": np.stack([self.density[p] for p in positions])
            / np.float32(self.scales["density"]),
            "cell": self.cells[positions],
            "sequence": seqs,
            "residues": np.stack([residue_cubes(s) for s in seqs]),
        }


def _bundled_examples(variant: str, entries: Sequence[str] | None = None) -> dict[str, list]:
    import crysbench
    from crysbench.structures import bundled_entries

    out: dict[str, list] = {}
    for pdb_id, path in sorted(bundled_entries().items()):
        if entries is not None and pdb_id not in entries:
            continue
        exs = list(crysbench.generate_examples(path, variant, curate=True))
        if exs:
            out[pdb_id] = exs
    return out


def open_splits(
    store: str | None = None,
    bundled: str | None = None,
    n_test: int = 2,
    entries: Sequence[str] | None = None,
    limit: int | None = None,
    n_valid: int = 1,
) -> tuple:
    """Train, validation and test splits from a store or from the bundled entries.

    Training reads ``train``; model selection, curves and every tuning choice read
    ``valid``; ``test`` is scored once, after training (:func:`train.train`).

    Parameters
    ----------
    store : str, optional
        A store built by ``crysbench build``; its ``train``, ``valid`` and ``test`` splits.
    bundled : str, optional
        Variant to generate in memory from the bundled entries (e.g. ``"dipeptide"``).
    n_test : int
        Bundled: number of PDB entries in test.
    entries : sequence of str, optional
        Bundled: only these PDB ids.
    limit : int, optional
        Bundled: at most this many examples per entry (quick runs and tests).
    n_valid : int
        Bundled: number of PDB entries in valid (the next ones in split-hash order).

    Returns
    -------
    train, valid, test
        Objects with the interface described in the module docstring.
    """
    if (store is None) == (bundled is None):
        raise ValueError("give exactly one of store= or bundled=")
    if store is not None:
        from crysbench.load import load_split

        splits = tuple(load_split(store, s, residues=True) for s in ("train", "valid", "test"))
        for ds in splits:
            ds.cell_of = _store_cell_of(ds)  # type: ignore[attr-defined]
        return splits
    from crysbench.splits import split_uniform
    from crysbench.variants import get_variant

    v = get_variant(bundled)
    by_entry = _bundled_examples(bundled, entries)
    if limit is not None:
        by_entry = {k: e[:limit] for k, e in by_entry.items()}
    order = sorted(by_entry, key=lambda pid: split_uniform(pid, v.split_key))
    n_test = min(n_test, max(len(order) - 1, 0))
    n_valid = min(n_valid, max(len(order) - n_test - 1, 0))
    test_ids, valid_ids = order[:n_test], order[n_test : n_test + n_valid]
    train_ids = order[n_test + n_valid :]
    train = BundledSplit([ex for pid in sorted(train_ids) for ex in by_entry[pid]])
    out = [train]
    for ids in (valid_ids, test_ids):
        split = BundledSplit([ex for pid in sorted(ids) for ex in by_entry[pid]], train.scales)
        out.append(split)
    for split, ids in zip(out, (train_ids, valid_ids, test_ids), strict=True):
        split.entries = sorted(ids)  # type: ignore[attr-defined]
    return tuple(out)


def _store_cell_of(ds):
    def cell_of(example_id: str) -> tuple:
        pos = ds.position(example_id)
        return tuple(float(x) for x in ds.store.meta["cell"][ds.rows[pos]])

    return cell_of


def batch_plan(ds, batch_size: int, shuffle: bool, seed: int, epoch: int) -> list[np.ndarray]:
    """Positions of each batch (one grid shape each), a pure function of (seed, epoch).

    Each bucket of n examples is cut into ``max(1, round(n / batch_size))`` nearly equal
    batches, so the average batch size is ``batch_size`` (the paper's "average batch
    40"); batches are shuffled across buckets when ``shuffle``.
    """
    rng = np.random.default_rng([seed, epoch])
    batches = []
    for shape in sorted(ds.buckets):
        pos = np.asarray(ds.buckets[shape])
        if shuffle:
            pos = rng.permutation(pos)
        n = max(1, int(round(len(pos) / batch_size)))
        batches.extend(b for b in np.array_split(pos, n) if len(b))
    if shuffle:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def iterate_batches(
    ds, batch_size: int = 40, shuffle: bool = True, seed: int = 0, epoch: int = 0
) -> Iterator[dict]:
    """Torch batches of a split (see module docstring), deterministic in (seed, epoch)."""
    for positions in batch_plan(ds, batch_size, shuffle, seed, epoch):
        b = ds.get_batch(positions)
        out = {
            "id": list(b["id"]),
            "sequence": list(b["sequence"]),
            "patterson": torch.from_numpy(np.ascontiguousarray(b["patterson"])).unsqueeze(1),
            "density": torch.from_numpy(np.ascontiguousarray(b["density"])).unsqueeze(1),
            "cell": torch.as_tensor(np.asarray(b["cell"])),
        }
        if "residues" in b:
            out["residues"] = torch.from_numpy(np.ascontiguousarray(b["residues"]))
        yield out
