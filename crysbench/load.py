"""Loading splits from Python (SPEC §5): numpy items, bucketed batches, torch views.

Maps are synthesised from the stored reflections at load time, one batched FFT
per bucket batch (examples of one grid shape are contiguous in the store, so a
batch is one read). torch is needed only for :meth:`SplitDataset.dataloader`.

Size: about 430 lines, because :class:`SplitDataset` is one class with one job (a split
as items, batches and a torch view) whose public methods each carry a numpydoc page.

Examples
--------
>>> import crysbench  # doctest: +SKIP
>>> train = crysbench.load_split("var-res.zarr", "train")  # doctest: +SKIP
>>> ex = train[0]; ex["patterson"].shape == ex["grid_shape"]  # doctest: +SKIP
True
>>> loader = train.dataloader(batch_size=40, shuffle=True)  # doctest: +SKIP
>>> batch = next(iter(loader)); batch["patterson"].shape  # doctest: +SKIP
torch.Size([40, 1, 48, 40, 36])
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from crysbench.cell import cell_volumes
from crysbench.sampler import bucket_batches
from crysbench.store import Store, open_store
from crysbench.storelike import StoreLike
from crysbench.synthesis import concat_reflections, power, synthesize_batch

__all__ = ["SplitDataset", "load_split", "bucket_batches"]  # bucket_batches: crysbench.sampler


class SplitDataset(Sequence):
    """One split of a store: items are dicts of numpy arrays.

    Item keys: ``id``, ``patterson``, ``density`` (float32, ``grid_shape``; divided by
    the training-split scale when ``normalize="dataset"``), ``cell`` (6 floats),
    ``dmin``, ``grid_shape``, ``sequence``, ``atoms`` (element, name, residue, xyz),
    plus ``residues`` (L, 24, 24, 24) when ``residues=True`` and ``template`` when
    templates are attached.

    Parameters
    ----------
    store : str or StoreLike
        Store path or fsspec URL, or an opened store (any
        :class:`crysbench.storelike.StoreLike`).
    split : str
        ``"train"``, ``"valid"``, ``"test"``, ``"train+valid"`` or ``"all"``.
    normalize : {"dataset", None}
        Divide maps by the training-split scale constants; ``None`` (or ``"none"``)
        keeps them unscaled.
    residues : bool
        Add the RecCrysFormer partial-structure input (one 24³ cube per residue).
    templates : folder or dict, optional
        Recycling templates by example id (``<id>.npy`` files), as ``template``.

    Raises
    ------
    ValueError
        When ``normalize`` is not ``"dataset"`` or ``None``.
    """

    def __init__(
        self,
        store: str | StoreLike,
        split: str,
        normalize: str | None = "dataset",
        residues: bool = False,
        templates: str | Path | dict | None = None,
    ):
        self._store = open_store(str(store)) if isinstance(store, (str, Path)) else store
        self.path = self._store.path
        self.split = split
        if normalize not in ("dataset", None, "none"):
            raise ValueError(f"normalize must be 'dataset' or None, not {normalize!r}")
        self.normalize = None if normalize == "none" else normalize
        self.residues = residues
        self.templates = templates
        self.rows = self._store.positions(split)
        self.buckets = _buckets(self._store.meta["grid_shape"][self.rows])
        self._ids: list[str] | None = None
        self._pos: dict[str, int] | None = None
        norm = self._store.normalization
        self.scales = {
            k: (float(norm[k]["scale"]) if self.normalize == "dataset" else 1.0)
            for k in ("density", "patterson")
        }

    # pickling for worker processes: a zarr store is reopened in the worker, an
    # in-memory store (crysbench.MemoryStore) travels with the dataset
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        if isinstance(self._store, Store):
            state["_store"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if self._store is None:
            self._store = open_store(self.path)

    @property
    def store(self) -> StoreLike:
        return self._store

    @property
    def variant(self) -> str:
        return self._store.variant

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def ids(self) -> list[str]:
        """Example ids in split order (built on first use)."""
        if self._ids is None:
            self._ids = [str(i) for i in self._store.meta["id"][self.rows].tolist()]
        return self._ids

    def position(self, example_id: str) -> int:
        """Return the position of an example id in this split.

        Parameters
        ----------
        example_id : str
            Example id, as in :attr:`ids`.

        Returns
        -------
        int
            Its position in this split.

        Raises
        ------
        KeyError
            When the id is not in this split.
        """
        if self._pos is None:
            self._pos = {i: n for n, i in enumerate(self.ids)}
        try:
            return self._pos[example_id]
        except KeyError:
            raise KeyError(f"{example_id!r} is not in the {self.split} split") from None

    def cell(self, key: str | int) -> tuple[float, ...]:
        """Return the cell parameters (a, b, c, α, β, γ) of an example.

        Parameters
        ----------
        key : str or int
            Example id or position in this split.

        Returns
        -------
        tuple of float
            The six cell parameters (Å, degrees).

        Examples
        --------
        >>> train.cell(train.ids[0])  # doctest: +SKIP
        (21.0, 18.5, 16.2, 90.0, 97.5, 90.0)
        """
        pos = self.position(key) if isinstance(key, str) else int(key)
        return tuple(float(x) for x in self._store.meta["cell"][self.rows[pos]])

    def __getitem__(self, key):  # type: ignore[override]
        if isinstance(key, str):
            key = self.position(key)
        if isinstance(key, (int, np.integer)):
            if not -len(self) <= key < len(self):
                raise IndexError(key)
            return self._item(int(key) % len(self))
        if isinstance(key, slice):
            return [self[i] for i in range(*key.indices(len(self)))]
        raise TypeError(f"index with an int, an id or a slice, not {type(key).__name__}")

    def __iter__(self) -> Iterator[dict]:
        for batch in bucket_batches(self.buckets, 64, shuffle=False):
            b = self.get_batch(batch)
            for i in range(len(batch)):
                yield {k: (v[i] if isinstance(v, (list, np.ndarray)) else v) for k, v in b.items()}

    def _item(self, pos: int) -> dict:
        b = self.get_batch([pos])
        b["atoms"] = [_LazyAtoms(self._store, int(self.rows[pos]))]
        item = {k: (v[0] if isinstance(v, (list, np.ndarray)) else v) for k, v in b.items()}
        return item

    def get_batch(self, positions: Sequence[int], atoms: bool = False) -> dict:
        """Return stacked arrays for positions of one grid shape (one read, one FFT per map).

        Parameters
        ----------
        positions : sequence of int
            Positions in this split, all of one grid shape.
        atoms : bool
            Add the atoms (element, name, residue, xyz) of each example.

        Returns
        -------
        dict
            ``id`` (list), ``patterson``/``density`` (b, nu, nv, nw) float32,
            ``cell`` (b, 6), ``dmin`` (b,), ``grid_shape``, ``sequence`` (list), and
            ``residues``/``template``/``atoms`` when requested.

        Raises
        ------
        ValueError
            When the positions hold more than one grid shape, or a template has
            the wrong shape.
        """
        positions = np.asarray(positions, dtype=np.int64)
        rows = self.rows[positions]
        meta = self._store.meta
        shapes = {tuple(int(x) for x in meta["grid_shape"][r]) for r in rows}
        if len(shapes) != 1:
            raise ValueError(f"a batch must hold one grid shape, got {sorted(shapes)}")
        shape = shapes.pop()
        hkls, Fs = self._store.read_reflections(rows)
        refl = concat_reflections(hkls, Fs)
        cells = meta["cell"][rows]
        volumes = cell_volumes(cells)
        density = synthesize_batch(refl, shape, volumes)
        patterson = synthesize_batch(refl, shape, volumes, power(refl.F))
        if self.scales["density"] != 1.0:
            density /= np.float32(self.scales["density"])
            patterson /= np.float32(self.scales["patterson"])
        out = {
            "id": [str(meta["id"][r]) for r in rows],
            "patterson": patterson,
            "density": density,
            "cell": cells.astype(np.float64),
            "dmin": meta["dmin"][rows].astype(np.float64),
            "grid_shape": shape,
            "sequence": [str(meta["sequence"][r]) for r in rows],
        }
        if self.residues:
            from crysbench.residue_density import residue_cubes

            out["residues"] = np.stack([residue_cubes(s) for s in out["sequence"]])
        if self.templates is not None:
            out["template"] = np.stack([self._template(i, shape) for i in out["id"]])
        if atoms:
            out["atoms"] = [self._atoms(r) for r in rows]
        return out

    def _atoms(self, row: int) -> dict:
        return self._store.read_atoms(int(row))

    def _template(self, example_id: str, shape: tuple) -> np.ndarray:
        t = self.templates
        arr = t[example_id] if isinstance(t, dict) else np.load(Path(t) / f"{example_id}.npy")
        arr = np.asarray(arr, dtype=np.float32)
        if arr.shape != shape:
            raise ValueError(f"template for {example_id} has shape {arr.shape}, expected {shape}")
        return arr

    def example(self, key: str | int):
        """Return the full stored example (structure, reflections) for export.

        Parameters
        ----------
        key : str or int
            Example id or position in this split.

        Returns
        -------
        Example
            The example as stored.
        """
        pos = self.position(key) if isinstance(key, str) else int(key)
        return self._store.get(int(self.rows[pos]))

    def torch_dataset(self):
        """Return a map-style ``torch.utils.data.Dataset`` of single examples (tensors).

        Returns
        -------
        crysbench.torchdata.ExampleDataset
            A view of this split whose items are tensors.
        """
        from crysbench.torchdata import ExampleDataset

        return ExampleDataset(self)

    def dataloader(
        self,
        batch_size: int = 40,
        shuffle: bool = True,
        num_workers: int = 0,
        seed: int = 0,
        drop_small_buckets: bool = False,
        min_bucket: int | None = None,
        device: str | None = None,
        rank: int | None = None,
        world_size: int | None = None,
        equal_batches: bool = False,
    ):
        """Return a torch DataLoader of size-bucketed batches (needs ``crysbench[torch]``).

        Parameters
        ----------
        batch_size : int
            Largest batch; batches never mix grid shapes.
        shuffle : bool
            Shuffle within and across buckets, seeded by ``seed`` and the epoch
            (call ``loader.sampler.set_epoch(n)``, or iterate again: the
            sampler advances its epoch on each pass).
        num_workers : int
            Worker processes; each reopens the store.
        seed : int
            Seed of the shuffling (with the epoch).
        drop_small_buckets : bool
            Drop buckets smaller than ``min_bucket`` (default ``batch_size``), the
            paper's rule for training sets.
        min_bucket : int, optional
            Smallest bucket kept when ``drop_small_buckets``; default ``batch_size``.
        device : str or torch.device, optional
            Ship reflections (tens of KB per example) and synthesise both maps on this
            device with ``torch.fft``; batches then arrive there, with ``host_bytes``.
        rank, world_size : int, optional
            Distributed training: this rank's share of the batches (disjoint across
            ranks, equal counts per rank); read from ``torch.distributed`` when it is
            initialised. Call ``loader.sampler.set_epoch(n)`` on every rank.
        equal_batches : bool
            Cut each bucket into nearly equal batches of *average* size ``batch_size``
            (the paper's "average batch 40"; :func:`crysbench.sampler.bucket_batches`).

        Returns
        -------
        torch.utils.data.DataLoader
            Batches as dicts of tensors (see :meth:`get_batch`).

        Examples
        --------
        >>> loader = train.dataloader(batch_size=40, device="cuda")  # doctest: +SKIP
        >>> loader = train.dataloader(rank=1, world_size=4, seed=0)  # doctest: +SKIP
        """
        from crysbench.torchdata import make_dataloader

        mb = (min_bucket or batch_size) if drop_small_buckets else None
        return make_dataloader(
            self, batch_size, shuffle, num_workers, seed, mb, device, rank, world_size,
            equal=equal_batches,
        )  # fmt: skip


class _LazyAtoms(Mapping):
    """The atoms of an item, read from the store on first access (element, name, residue, xyz)."""

    def __init__(self, store: StoreLike, row: int):
        self._store = store
        self._row = row
        self._data: dict | None = None

    def _load(self) -> dict:
        if self._data is None:
            self._data = self._store.read_atoms(self._row)
        return self._data

    def __getitem__(self, key: str) -> np.ndarray:
        return self._load()[key]

    def __iter__(self):
        return iter(("element", "name", "residue", "xyz"))

    def __len__(self) -> int:
        return 4


def _buckets(shapes: np.ndarray) -> dict[tuple, np.ndarray]:
    """Positions by grid shape (sorted shapes; positions ascending), one vectorised pass."""
    shapes = np.asarray(shapes).reshape(-1, 3)
    if not len(shapes):
        return {}
    keys, inverse = np.unique(shapes, axis=0, return_inverse=True)
    order = np.argsort(inverse.ravel(), kind="stable")
    bounds = np.cumsum(np.bincount(inverse.ravel(), minlength=len(keys)))[:-1]
    return {tuple(int(x) for x in k): p for k, p in zip(keys, np.split(order, bounds))}


def load_split(
    store: str | StoreLike,
    split: str = "train",
    *,
    variant: str | None = None,
    normalize: str | None = "dataset",
    residues: bool = False,
    templates: str | Path | dict | None = None,
) -> SplitDataset:
    """Open one split of a store for training or evaluation.

    Parameters
    ----------
    store : str or StoreLike
        Store path or fsspec URL, an opened :class:`crysbench.store.Store`, or any
        :class:`crysbench.storelike.StoreLike` (e.g. :class:`crysbench.MemoryStore`).
    split : str
        ``"train"``, ``"valid"``, ``"test"``, ``"train+valid"`` or ``"all"``.
    variant : str, optional
        Pin a recipe, e.g. ``"var-res@1"``; a store built otherwise is refused with
        the command that rebuilds it.
    normalize : {"dataset", None}
        Divide maps by the training-split scale constants (paper: to [-1, 1]).
    residues : bool
        Add the RecCrysFormer partial-structure input (one 24³ cube per residue).
    templates : folder or dict, optional
        Recycling templates by example id (``<id>.npy`` files), as ``template``.

    Returns
    -------
    SplitDataset
        The split, indexable by position or example id.

    Raises
    ------
    crysbench.store.StoreError
        When ``variant`` is given and the store holds another recipe.
    """
    if isinstance(store, (str, Path)):
        store = open_store(str(store), variant=variant)
    elif variant is not None and isinstance(store, Store):
        open_store(store.path, variant=variant)
    elif variant is not None:
        from crysbench.store import StoreError
        from crysbench.variants import get_variant

        if store.variant != get_variant(variant).key:
            raise StoreError(f"{store.path} holds {store.variant}, not {get_variant(variant).key}")
    return SplitDataset(store, split, normalize=normalize, residues=residues, templates=templates)
