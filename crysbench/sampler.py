"""Bucket batches (one grid shape each), whole or split across the ranks of a distributed
training job (numpy only).

:func:`bucket_batches` cuts each size bucket into batches. Every rank computes the same
global list of one-grid-shape batches from ``(seed, epoch)``, drops the last ``len % world_size``
batches of the shuffled list (different ones every epoch) and takes every
``world_size``-th batch from its rank on: the ranks' batches are disjoint, each rank
gets the same number of batches, and nothing needs to be communicated.
:class:`crysbench.torchdata.DistributedBucketBatchSampler` is the torch ``Sampler``
view, reading rank and world size from ``torch.distributed`` when not given.

Examples
--------
>>> import numpy as np
>>> from crysbench.sampler import rank_batches
>>> buckets = {(8, 8, 8): np.arange(10), (8, 8, 12): np.arange(10, 16)}
>>> a = rank_batches(buckets, 4, rank=0, world_size=2, seed=1)
>>> b = rank_batches(buckets, 4, rank=1, world_size=2, seed=1)
>>> len(a) == len(b), set(np.concatenate(a)).isdisjoint(np.concatenate(b))
(True, True)
"""

from __future__ import annotations

import numpy as np

__all__ = ["bucket_batches", "rank_batches"]


def bucket_batches(
    buckets: dict[tuple, np.ndarray],
    batch_size: int,
    shuffle: bool = True,
    seed: int = 0,
    epoch: int = 0,
    min_bucket: int | None = None,
    equal: bool = False,
) -> list[np.ndarray]:
    """Split each bucket into batches of at most ``batch_size`` positions.

    Each batch holds examples of one grid shape. With ``shuffle``, positions are
    permuted within buckets and batches across buckets, from a generator seeded
    by ``(seed, epoch)`` only. Buckets smaller than ``min_bucket`` are dropped (the
    paper's rule for training). Every kept position appears exactly once.

    With ``equal``, a bucket of n examples is instead cut into ``max(1, round(n /
    batch_size))`` nearly equal batches, so that the *average* batch size is
    ``batch_size`` (the paper's "average batch 40"; a batch may exceed it by half).

    Examples
    --------
    >>> buckets = {(8, 8, 8): np.arange(10)}
    >>> [len(b) for b in bucket_batches(buckets, 4, shuffle=False)]
    [4, 4, 2]
    >>> [len(b) for b in bucket_batches(buckets, 4, shuffle=False, equal=True)]
    [5, 5]
    """
    rng = np.random.default_rng([seed, epoch])
    batches = []
    for shape in sorted(buckets):
        pos = np.asarray(buckets[shape])
        if min_bucket is not None and len(pos) < min_bucket:
            continue
        if shuffle:
            pos = rng.permutation(pos)
        if equal:
            n = max(1, int(round(len(pos) / batch_size)))
            batches.extend(b for b in np.array_split(pos, n) if len(b))
        else:
            for s in range(0, len(pos), batch_size):
                batches.append(pos[s : s + batch_size])
    if shuffle:
        order = rng.permutation(len(batches))
        batches = [batches[i] for i in order]
    return batches


def rank_batches(
    buckets: dict[tuple, np.ndarray],
    batch_size: int,
    rank: int = 0,
    world_size: int = 1,
    seed: int = 0,
    epoch: int = 0,
    shuffle: bool = True,
    min_bucket: int | None = None,
    equal: bool = False,
) -> list[np.ndarray]:
    """The batches of one rank for one epoch.

    Parameters
    ----------
    buckets : dict
        Grid shape → positions (``SplitDataset.buckets``).
    batch_size : int
        Largest batch; a batch never mixes grid shapes.
    rank, world_size : int
        This process's rank and the number of ranks (``0 <= rank < world_size``).
    seed, epoch : int
        Seed the shuffle; every rank must use the same values.
    shuffle : bool
        Shuffle within and across buckets.
    min_bucket : int, optional
        Drop buckets with fewer examples (the paper's training rule).
    equal : bool
        Nearly equal batches of average size ``batch_size`` (:func:`bucket_batches`).

    Returns
    -------
    list of ndarray
        ``len(all batches) // world_size`` batches of positions.

    Raises
    ------
    ValueError
        A rank outside ``[0, world_size)``.
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
    batches = bucket_batches(buckets, batch_size, shuffle, seed, epoch, min_bucket, equal)
    usable = len(batches) - len(batches) % world_size
    return batches[rank:usable:world_size]
