"""Bucket batches split across the ranks of a distributed training job (numpy only).

Every rank computes the same global list of one-grid-shape batches from ``(seed,
epoch)`` (:func:`crysbench.load.bucket_batches`), drops the last ``len % world_size``
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

from crysbench.load import bucket_batches

__all__ = ["rank_batches"]


def rank_batches(
    buckets: dict[tuple, np.ndarray],
    batch_size: int,
    rank: int = 0,
    world_size: int = 1,
    seed: int = 0,
    epoch: int = 0,
    shuffle: bool = True,
    min_bucket: int | None = None,
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
    batches = bucket_batches(buckets, batch_size, shuffle, seed, epoch, min_bucket)
    usable = len(batches) - len(batches) % world_size
    return batches[rank:usable:world_size]
