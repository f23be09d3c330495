"""PyTorch views of a split: bucketed batch sampler and DataLoader (``crysbench[torch]``).

This module imports torch at the top on purpose: it is only imported by
:meth:`crysbench.load.SplitDataset.dataloader`, and a missing torch gives an
install hint instead of a silent fallback.
"""

from __future__ import annotations

try:
    import torch
    from torch.utils.data import DataLoader, Dataset, Sampler
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "crysbench's PyTorch loader needs torch: pip install 'crysbench[torch]' "
        "(on this project's machines: pip install torch==2.13.0)"
    ) from exc

from crysbench.load import SplitDataset, bucket_batches

__all__ = ["BucketBatchSampler", "BatchDataset", "ExampleDataset", "make_dataloader"]


class BucketBatchSampler(Sampler):
    """Yields lists of positions, one grid shape per batch, reshuffled every epoch."""

    def __init__(self, buckets, batch_size, shuffle=True, seed=0, min_bucket=None):
        self.buckets = buckets
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.min_bucket = min_bucket
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Fix the epoch used to seed the shuffle."""
        self.epoch = epoch

    def batches(self):
        return bucket_batches(
            self.buckets, self.batch_size, self.shuffle, self.seed, self.epoch, self.min_bucket
        )

    def __iter__(self):
        batches = self.batches()
        self.epoch += 1
        for b in batches:
            yield [int(i) for i in b]

    def __len__(self) -> int:
        return len(self.batches())


class BatchDataset(Dataset):
    """Map-style dataset whose items are whole batches (one contiguous read each)."""

    def __init__(self, split: SplitDataset):
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, positions):
        b = self.split.get_batch(positions)
        out = {
            "id": b["id"],
            "patterson": torch.from_numpy(b["patterson"]).unsqueeze(1),
            "density": torch.from_numpy(b["density"]).unsqueeze(1),
            "cell": torch.from_numpy(b["cell"]),
            "dmin": torch.from_numpy(b["dmin"]),
            "sequence": b["sequence"],
        }
        if "residues" in b:
            out["residues"] = torch.from_numpy(b["residues"])
        if "template" in b:
            out["template"] = torch.from_numpy(b["template"]).unsqueeze(1)
        return out


class ExampleDataset(Dataset):
    """Map-style dataset of single examples as tensors (channel axis first).

    For samplers of your own; :meth:`crysbench.load.SplitDataset.dataloader` is faster
    because it reads and synthesises a whole bucket batch at once.
    """

    def __init__(self, split: SplitDataset):
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, i: int) -> dict:
        b = BatchDataset(self.split)[[int(i)]]
        return {k: (v[0] if isinstance(v, (list, torch.Tensor)) else v) for k, v in b.items()}


def _identity(x):
    return x


def make_dataloader(split, batch_size, shuffle, num_workers, seed, min_bucket) -> DataLoader:
    """DataLoader over :class:`BatchDataset` with a :class:`BucketBatchSampler`."""
    sampler = BucketBatchSampler(split.buckets, batch_size, shuffle, seed, min_bucket)
    return DataLoader(
        BatchDataset(split),
        sampler=sampler,
        batch_size=None,
        num_workers=num_workers,
        collate_fn=_identity,
        persistent_workers=False,
    )
