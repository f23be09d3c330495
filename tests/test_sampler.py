"""crysbench.sampler.bucket_batches: whole-bucket batches, at most or on average batch_size."""

from __future__ import annotations

import numpy as np

from crysbench.sampler import bucket_batches, rank_batches

BUCKETS = {(8, 8, 8): np.arange(10), (8, 8, 12): np.arange(10, 13), (8, 12, 12): np.arange(13, 14)}


def test_at_most_and_equal_batches():
    most = bucket_batches(BUCKETS, 4, shuffle=False)
    assert [len(b) for b in most] == [4, 4, 2, 3, 1]
    equal = bucket_batches(BUCKETS, 4, shuffle=False, equal=True)
    assert [len(b) for b in equal] == [5, 5, 3, 1]  # round(10/4)=2, round(3/4)=1, 1
    for batches in (most, equal):
        assert sorted(np.concatenate(batches).tolist()) == list(range(14))


def test_shuffled_equal_batches_are_a_function_of_seed_and_epoch():
    a = bucket_batches(BUCKETS, 4, seed=2, epoch=1, equal=True)
    b = bucket_batches(BUCKETS, 4, seed=2, epoch=1, equal=True)
    c = bucket_batches(BUCKETS, 4, seed=2, epoch=2, equal=True)
    assert [x.tolist() for x in a] == [x.tolist() for x in b]
    assert [x.tolist() for x in a] != [x.tolist() for x in c]
    assert sorted(len(x) for x in a) == [1, 3, 5, 5]
    ranks = [rank_batches(BUCKETS, 4, r, 2, seed=2, epoch=1, equal=True) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == 2
