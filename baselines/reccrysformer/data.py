"""Data for RecCrysFormer, on crysbench's public API only (a submitter can copy this).

The splits are :func:`crysbench.load_split` datasets with the partial-structure input
(``residues=True``), of a store built by ``crysbench build`` or of a
:class:`crysbench.MemoryStore` of the package's bundled entries (split by the recipe's
own rule, so in-memory and built splits are the same). Batches come from
:meth:`crysbench.SplitDataset.dataloader` with ``equal_batches=True``: each size bucket of
n examples is cut into ``max(1, round(n / batch_size))`` nearly equal batches, so the
average batch is ``batch_size`` (the paper's "average batch 40"), reshuffled per
(seed, epoch). A batch is::

    {"id": [...], "patterson": (B,1,nu,nv,nw), "density": (B,1,nu,nv,nw),
     "residues": (B,J,24,24,24), "sequence": [...], "cell": (B,6), "dmin": (B,)}

with maps divided by the training-split scale constants (``split.scales``; paper: to
[-1, 1]), and ``template`` (B,1,nu,nv,nw) when the split was loaded with ``templates=``.

Examples
--------
>>> from baselines.reccrysformer.data import open_splits, iterate_batches
>>> train, valid, test = open_splits(bundled="dipeptide@1", entries=["1A8O"], limit=4)
>>> batch = next(iterate_batches(train, batch_size=2))
>>> batch["patterson"].ndim, tuple(batch["residues"].shape[1:])
(5, (2, 24, 24, 24))
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

import crysbench

__all__ = ["open_splits", "iterate_batches", "batch_plan", "SPLITS"]

#: The splits a run reads: train (fit), valid (curves, model selection), test (once).
SPLITS = ("train", "valid", "test")


def open_splits(
    store: str | None = None,
    bundled: str | None = None,
    entries: Sequence[str] | None = None,
    limit: int | None = None,
    templates=None,
) -> tuple[crysbench.SplitDataset, crysbench.SplitDataset, crysbench.SplitDataset]:
    """Train, validation and test splits of a store or of the bundled entries.

    Training reads ``train``; model selection, curves and every tuning choice read
    ``valid``; ``test`` is scored once, after training (:func:`train.train`).

    Parameters
    ----------
    store : str, optional
        A store built by ``crysbench build``.
    bundled : str, optional
        Variant to generate in memory from the bundled entries (``"dipeptide@1"``).
    entries : sequence of str, optional
        Bundled: only these PDB ids.
    limit : int, optional
        Bundled: at most this many examples per entry (quick runs and tests).
    templates : folder or dict, optional
        Recycling templates (``<id>.npy``, e/Å³), passed to :func:`crysbench.load_split`.

    Returns
    -------
    train, valid, test : crysbench.SplitDataset
    """
    if (store is None) == (bundled is None):
        raise ValueError("give exactly one of store= or bundled=")
    source = store if store is not None else crysbench.MemoryStore.from_bundled(
        bundled, entries=entries, limit=limit)  # fmt: skip
    return tuple(  # type: ignore[return-value]
        crysbench.load_split(source, s, residues=True, templates=templates) for s in SPLITS
    )


def _loader(ds, batch_size: int, shuffle: bool, seed: int, epoch: int):
    loader = ds.dataloader(batch_size=batch_size, shuffle=shuffle, seed=seed,
                           equal_batches=True)  # fmt: skip
    loader.sampler.set_epoch(epoch)
    return loader


def batch_plan(ds, batch_size: int, shuffle: bool, seed: int, epoch: int) -> list[np.ndarray]:
    """Positions of each batch of one epoch (one grid shape each), a function of (seed, epoch).

    :func:`crysbench.sampler.bucket_batches` with ``equal=True``: the batches
    :func:`iterate_batches` yields.
    """
    return _loader(ds, batch_size, shuffle, seed, epoch).sampler.batches()


def iterate_batches(
    ds, batch_size: int = 40, shuffle: bool = True, seed: int = 0, epoch: int = 0
) -> Iterator[dict]:
    """Torch batches of a split (see module docstring), deterministic in (seed, epoch)."""
    yield from _loader(ds, batch_size, shuffle, seed, epoch)
