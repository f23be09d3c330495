"""PyTorch views of a split: bucketed batch samplers, DataLoader, maps made on the device.

``dataloader(device=...)`` ships each batch's coefficients (F complex64) and where the
kernel places them (:func:`placement`, the flat int64 indices of
:meth:`crysbench.HalfSphereGrid.flat_indices`, computed on the host): about 16 bytes per
reflection, tens of KB per example, to the training device, and synthesises both maps
there with ``torch.fft`` (:func:`synthesize_torch`), instead of moving two float32 maps
(about 1 MB per example at const-res) from the host.

This module imports torch at the top on purpose: it is only imported by
:meth:`crysbench.load.SplitDataset.dataloader`, and a missing torch gives an
install hint instead of a silent fallback. It never imports :mod:`crysbench.load`
(imports run one way, ``load`` → ``torchdata``): a split is anything with the
:class:`~crysbench.load.SplitDataset` interface (``rows``, ``buckets``, ``store``,
``get_batch``, ``scales``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

try:
    import torch
    from torch.utils.data import DataLoader, Dataset, Sampler
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "crysbench's PyTorch loader needs torch: pip install 'crysbench[torch]' "
        "(on this project's machines: pip install torch==2.13.0)"
    ) from exc

import numpy as np

from crysbench.cell import cell_volumes
from crysbench.reciprocal import HalfSphereGrid
from crysbench.sampler import bucket_batches, rank_batches
from crysbench.synthesis import concat_reflections

if TYPE_CHECKING:
    from crysbench.load import SplitDataset

__all__ = [
    "BucketBatchSampler",
    "DistributedBucketBatchSampler",
    "BatchDataset",
    "ReflectionBatchDataset",
    "DeviceMapLoader",
    "ExampleDataset",
    "make_dataloader",
    "placement",
    "synthesize_torch",
    "maps_on_device",
]


class BucketBatchSampler(Sampler):
    """Yields lists of positions, one grid shape per batch, reshuffled every epoch."""

    def __init__(self, buckets, batch_size, shuffle=True, seed=0, min_bucket=None, equal=False):
        self.buckets = buckets
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.min_bucket = min_bucket
        self.equal = equal
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Fix the epoch used to seed the shuffle."""
        self.epoch = epoch

    def batches(self):
        return bucket_batches(
            self.buckets, self.batch_size, self.shuffle, self.seed, self.epoch, self.min_bucket,
            self.equal,
        )  # fmt: skip

    def __iter__(self):
        batches = self.batches()
        self.epoch += 1
        for b in batches:
            yield [int(i) for i in b]

    def __len__(self) -> int:
        return len(self.batches())


class DistributedBucketBatchSampler(BucketBatchSampler):
    """Bucket batches of one rank: disjoint across ranks, equal counts, reshuffled per epoch.

    Parameters
    ----------
    buckets, batch_size, shuffle, seed, min_bucket
        As :class:`BucketBatchSampler`; ``seed`` must be the same on every rank.
    rank, world_size : int, optional
        Default: from ``torch.distributed`` when it is initialised, else 0 and 1.

    Notes
    -----
    Call ``set_epoch(n)`` on every rank before each epoch (as with torch's
    ``DistributedSampler``); iterating also advances the epoch. See
    :func:`crysbench.sampler.rank_batches` for the partition rule.
    """

    def __init__(
        self,
        buckets,
        batch_size,
        shuffle=True,
        seed=0,
        min_bucket=None,
        rank: int | None = None,
        world_size: int | None = None,
        equal: bool = False,
    ):
        super().__init__(buckets, batch_size, shuffle, seed, min_bucket, equal)
        dist = torch.distributed
        ready = dist.is_available() and dist.is_initialized()
        self.rank = int(rank if rank is not None else (dist.get_rank() if ready else 0))
        self.world_size = int(
            world_size if world_size is not None else (dist.get_world_size() if ready else 1)
        )

    def batches(self):
        return rank_batches(
            self.buckets, self.batch_size, self.rank, self.world_size, self.seed,
            self.epoch, self.shuffle, self.min_bucket, self.equal,
        )  # fmt: skip


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


class ReflectionBatchDataset(Dataset):
    """Like :class:`BatchDataset`, but items carry reflections instead of maps.

    Item keys: ``id``, ``hkl`` (m, 3) int16, ``F`` (m,) complex64, ``counts`` (b,)
    reflections per example, ``volume`` (b,) Å³, ``grid_shape``, ``cell``, ``dmin``,
    ``sequence`` (and ``residues``/``template`` when the split has them).
    """

    def __init__(self, split: SplitDataset):
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, positions):
        sp = self.split
        rows = sp.rows[np.asarray(positions, dtype=np.int64)]
        meta = sp.store.meta
        shapes = {tuple(int(x) for x in meta["grid_shape"][r]) for r in rows}
        if len(shapes) != 1:
            raise ValueError(f"a batch must hold one grid shape, got {sorted(shapes)}")
        hkls, Fs = sp.store.read_reflections(rows)
        refl = concat_reflections(hkls, Fs)
        cells = meta["cell"][rows].astype(np.float64)
        out = {
            "id": [str(meta["id"][r]) for r in rows],
            "hkl": torch.from_numpy(refl.hkl),
            "F": torch.from_numpy(refl.F),
            "counts": torch.tensor([len(h) for h in hkls], dtype=torch.int64),
            "volume": torch.from_numpy(cell_volumes(cells)),
            "grid_shape": shapes.pop(),
            "cell": torch.from_numpy(cells),
            "dmin": torch.from_numpy(meta["dmin"][rows].astype(np.float64)),
            "sequence": [str(meta["sequence"][r]) for r in rows],
        }
        if sp.residues:
            from crysbench.residue_density import residue_cubes

            out["residues"] = torch.from_numpy(
                np.stack([residue_cubes(q) for q in out["sequence"]])
            )
        if sp.templates is not None:
            shape = out["grid_shape"]
            t = np.stack([sp._template(i, shape) for i in out["id"]])
            out["template"] = torch.from_numpy(t).unsqueeze(1)
        return out


def placement(
    hkl: torch.Tensor | np.ndarray,
    counts: torch.Tensor | np.ndarray,
    shape: tuple[int, int, int],
    device: torch.device | str,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The kernel's placement of a ragged batch, shipped to ``device``.

    :meth:`crysbench.HalfSphereGrid.flat_indices` of the batch's reflections (computed
    on the host, where the reflections arrive), as int64 tensors on ``device``.

    Parameters
    ----------
    hkl : Tensor or ndarray, shape=(m, 3), integer
    counts : Tensor or ndarray, shape=(b,)
        Reflections of each example, in order.
    shape : tuple of int
    device : torch.device or str

    Returns
    -------
    plus, zero, minus : Tensor, int64
        Flat positions of +h in the (b, nu, nv, nw//2+1) batch, the l = 0 reflections,
        and the flat positions of their -h mates.
    """
    hkl = hkl.cpu().numpy() if isinstance(hkl, torch.Tensor) else np.asarray(hkl)
    counts = counts.cpu().numpy() if isinstance(counts, torch.Tensor) else np.asarray(counts)
    rows = np.repeat(np.arange(len(counts)), counts)
    grid = HalfSphereGrid(hkl, shape, rows=rows, size=len(counts))
    return tuple(torch.from_numpy(a).to(device) for a in grid.flat_indices())


def synthesize_torch(
    hkl: torch.Tensor,
    coefficients: torch.Tensor,
    counts: torch.Tensor,
    shape: tuple[int, int, int],
    volumes: torch.Tensor,
    place: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Batched ``(1/V) Σ_h C(h) exp(-2πi h·x)`` with ``torch.fft`` on the tensors' device.

    The coefficients go where the kernel puts them (:func:`placement`: ``conj C`` at
    +h, ``C`` at -h on the l = 0 plane), then ``irfftn · N/V``, as
    :func:`crysbench.maps.synthesize` (canonical half sphere, no F000).

    Parameters
    ----------
    hkl : Tensor, shape=(m, 3), integer
        Read (on the host) only when ``place`` is not given.
    coefficients : Tensor, shape=(m,), complex or real
    counts : Tensor, shape=(b,)
        Reflections of each example, in order.
    shape : tuple of int
    volumes : Tensor, shape=(b,)
    place : tuple of Tensor, optional
        :func:`placement` of these reflections on the coefficients' device (computed
        here when not given; pass it to share it between syntheses of one batch).

    Returns
    -------
    Tensor, shape=(b, nu, nv, nw), float32
    """
    nu, nv, nw = (int(n) for n in shape)
    nh = nw // 2 + 1
    dev = coefficients.device
    b = int(counts.numel())
    plus, zero, minus = placement(hkl, counts, shape, dev) if place is None else place
    c = coefficients.to(torch.complex64)
    grid = torch.zeros(b * nu * nv * nh, dtype=torch.complex64, device=dev)
    grid[plus] = torch.conj(c)
    grid[minus] = c[zero]
    out = torch.fft.irfftn(grid.view(b, nu, nv, nh), s=(nu, nv, nw), dim=(1, 2, 3))
    scale = (nu * nv * nw / volumes.to(dev, torch.float64)).to(torch.float32)
    return out * scale.view(b, 1, 1, 1)


def maps_on_device(batch: dict, device, scales: dict | None = None) -> dict:
    """Move a :class:`ReflectionBatchDataset` batch to ``device`` and make both maps there.

    Returns the keys of a :class:`BatchDataset` batch (``patterson``/``density`` as
    (b, 1, nu, nv, nw) float32 on ``device``) plus ``host_bytes``: bytes copied to it.
    """
    scales = scales or {"density": 1.0, "patterson": 1.0}
    hkl, counts, vol = batch["hkl"], batch["counts"], batch["volume"]
    shape = batch["grid_shape"]
    place = placement(hkl, counts, shape, device)  # on the host; the indices are shipped
    F = batch["F"].to(device, non_blocking=True)
    density = synthesize_torch(hkl, F, counts, shape, vol, place)
    power = F.real.square() + F.imag.square()
    patterson = synthesize_torch(hkl, power, counts, shape, vol, place)
    if scales["density"] != 1.0:
        density = density / float(scales["density"])
        patterson = patterson / float(scales["patterson"])
    sent = sum(t.nbytes for t in place) + F.nbytes + vol.nbytes
    out = {
        "id": batch["id"],
        "patterson": patterson.unsqueeze(1),
        "density": density.unsqueeze(1),
        "cell": batch["cell"].to(device),
        "dmin": batch["dmin"].to(device),
        "sequence": batch["sequence"],
    }
    for key in ("residues", "template"):
        if key in batch:
            out[key] = batch[key].to(device)
            sent += batch[key].nbytes
    out["host_bytes"] = int(sent + out["cell"].nbytes + out["dmin"].nbytes)
    return out


class DeviceMapLoader:
    """Iterates a reflections DataLoader and yields batches with maps made on ``device``."""

    def __init__(self, loader: DataLoader, device, scales: dict):
        self.loader = loader
        self.device = torch.device(device)
        self.scales = scales
        self.sampler = loader.sampler  # loader.sampler.set_epoch(n), as on a plain loader

    def __iter__(self):
        for batch in self.loader:
            yield maps_on_device(batch, self.device, self.scales)

    def __len__(self) -> int:
        return len(self.loader)


def _identity(x):
    return x


def make_dataloader(
    split,
    batch_size,
    shuffle,
    num_workers,
    seed,
    min_bucket,
    device=None,
    rank: int | None = None,
    world_size: int | None = None,
    equal: bool = False,
):
    """DataLoader over bucket batches; maps made on ``device`` when given.

    With ``rank``/``world_size`` (or an initialised ``torch.distributed``) the sampler is a
    :class:`DistributedBucketBatchSampler`; ``equal`` gives nearly equal batches of average
    size ``batch_size`` (:func:`crysbench.sampler.bucket_batches`).
    """
    dist = torch.distributed
    if (
        rank is not None
        or world_size is not None
        or (dist.is_available() and dist.is_initialized())
    ):
        sampler = DistributedBucketBatchSampler(
            split.buckets, batch_size, shuffle, seed, min_bucket, rank, world_size, equal
        )
    else:
        sampler = BucketBatchSampler(split.buckets, batch_size, shuffle, seed, min_bucket, equal)
    data = ReflectionBatchDataset(split) if device is not None else BatchDataset(split)
    loader = DataLoader(
        data,
        sampler=sampler,
        batch_size=None,
        num_workers=num_workers,
        collate_fn=_identity,
        persistent_workers=False,
        pin_memory=device is not None and torch.device(device).type == "cuda",
    )
    if device is None:
        return loader
    return DeviceMapLoader(loader, device, split.scales)
