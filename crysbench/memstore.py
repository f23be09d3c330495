"""An in-memory store of examples: the :class:`~crysbench.storelike.StoreLike` of tests,
benchmarks and baselines that need no zarr store on disk. (pure)

:meth:`MemoryStore.from_examples` orders, splits and normalises examples exactly as
``crysbench build`` does (the same split rule, store order and scale constants,
:func:`crysbench.assemble.normalization`), and keeps what the store keeps: F as
complex64, hkl as int16, atom coordinates rounded to float32. A store built from the
same entries and a memory store of their examples therefore give the same ids, splits,
maps and scales (``tests/test_memstore.py`` checks it against the zarr store).

Examples
--------
>>> import crysbench
>>> store = crysbench.MemoryStore.from_bundled("dipeptide", entries=["3JQH", "1A8O"], limit=3)
>>> len(store), store.variant
(6, 'dipeptide@2')
>>> train = crysbench.load_split(store, "train")
>>> train[0]["density"].shape == train[0]["grid_shape"]
True
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import gemmi
import numpy as np

from crysbench.example import Example
from crysbench.splits import SPLIT_CODES, assign_split, split_fingerprint
from crysbench.storelike import StoreLike
from crysbench.variants import get_variant

__all__ = ["MemoryStore", "SPLIT_CODES"]

_SPLIT_NAMES = {v: k for k, v in SPLIT_CODES.items()}
_COUNTER = itertools.count()


class MemoryStore:
    """Examples held in memory, read through the interface of :class:`crysbench.store.Store`.

    Parameters
    ----------
    examples : sequence of Example
        One per row, in store order (``from_examples`` sorts them).
    splits : sequence of str
        ``"train"``, ``"valid"`` or ``"test"`` of each example.
    variant : str
        ``"name@version"``.

    Notes
    -----
    Rows, ``ids``, ``positions``, ``meta`` columns, ``read_reflections``, ``read_atoms``
    and ``get`` behave as the zarr store's; ``verify`` is accepted and ignored (nothing in
    memory can be damaged on disk). The ``path`` starts with ``memory://``: evaluation of
    a memory store stays in this process.
    """

    def __init__(self, examples: Sequence[Example], splits: Sequence[str], variant: str) -> None:
        if len(examples) != len(splits):
            raise ValueError(f"{len(examples)} examples but {len(splits)} split labels")
        bad = sorted(set(splits) - set(SPLIT_CODES))
        if bad:
            raise ValueError(f"unknown split labels {bad}; use train, valid or test")
        self.variant = get_variant(variant).key
        self.path = f"memory://crysbench-memory-store/{next(_COUNTER)}"
        self._examples = list(examples)
        self._splits = list(splits)
        self._index = {ex.id: n for n, ex in enumerate(self._examples)}
        if len(self._index) != len(self._examples):
            raise ValueError("example ids are not unique")
        self._atoms = [_stored_atoms(ex) for ex in self._examples]
        self.meta = _meta_columns(self._examples, self._splits)
        self.normalization = _normalization(self._examples, self.meta["split"])
        test = self.positions("test")
        self.fingerprint = split_fingerprint(
            self.meta["id"][test].tolist(), self.meta["checksum"][test].tolist()
        )

    # -- construction -----------------------------------------------------------
    @classmethod
    def from_examples(
        cls,
        examples: Iterable[Example],
        variant: str,
        split: str | Mapping[str, str] | None = None,
    ) -> MemoryStore:
        """A store of examples, ordered and split as ``crysbench build`` would.

        Parameters
        ----------
        examples : iterable of Example
        variant : str
            Recipe the examples were made with (``"dipeptide@1"``); its ``split_key`` and
            fractions split them by PDB entry, unless ``split`` is given.
        split : str or mapping, optional
            One split for every example (``"test"``), or a split per PDB id or per
            example id; default: the recipe's rule (:func:`crysbench.splits.assign_split`).

        Examples
        --------
        >>> import crysbench
        >>> from crysbench.structures import bundled_entries
        >>> exs = list(crysbench.generate_examples(bundled_entries()["3JQH"], "dipeptide"))
        >>> MemoryStore.from_examples(exs[:2], "dipeptide", split="test").ids("test")
        ['3JQH_1.pd_1', '3JQH_1.pd_2']
        """
        v = get_variant(variant)
        examples = list(examples)

        def split_of(ex: Example) -> str:
            if isinstance(split, str):
                return split
            if split is not None:
                return split[ex.id] if ex.id in split else split[ex.pdb_id]
            return assign_split(ex.pdb_id, v.split_key, v.test_fraction, v.valid_fraction)

        labels = [split_of(ex) for ex in examples]
        # store order: split, grid shape, PDB id, entity, start (crysbench.plan.plan_store)
        order = sorted(
            range(len(examples)),
            key=lambda i: (SPLIT_CODES[labels[i]], tuple(examples[i].grid_shape),
                           examples[i].pdb_id, examples[i].entity, examples[i].start),
        )  # fmt: skip
        return cls([examples[i] for i in order], [labels[i] for i in order], v.key)

    @classmethod
    def from_bundled(
        cls,
        variant: str = "dipeptide",
        entries: Sequence[str] | None = None,
        limit: int | None = None,
        split: str | Mapping[str, str] | None = None,
    ) -> MemoryStore:
        """The examples of the package's bundled PDB entries, curated as a build curates.

        Parameters
        ----------
        variant : str
        entries : sequence of str, optional
            Only these PDB ids (default: every bundled entry).
        limit : int, optional
            At most this many examples per entry (quick runs and tests).
        split : str or mapping, optional
            As :meth:`from_examples`.
        """
        from crysbench.example import generate_examples
        from crysbench.structures import bundled_entries

        out: list[Example] = []
        for pdb_id, path in sorted(bundled_entries().items()):
            if entries is not None and pdb_id not in entries:
                continue
            exs = generate_examples(Path(path), variant, curate=True)
            out.extend(itertools.islice(exs, limit))
        return cls.from_examples(out, variant, split)

    # -- the StoreLike interface ------------------------------------------------
    def __len__(self) -> int:
        return len(self._examples)

    def __contains__(self, example_id: str) -> bool:
        return example_id in self._index

    def __repr__(self) -> str:
        counts = {s: int((self.meta["split"] == c).sum()) for s, c in SPLIT_CODES.items()}
        return f"MemoryStore({self.variant}, {counts})"

    def ids(self, split: str | None = None) -> list[str]:
        ids = self.meta["id"] if split is None else self.meta["id"][self.positions(split)]
        return [str(i) for i in ids.tolist()]

    def positions(self, split: str) -> np.ndarray:
        if split == "all":
            return np.arange(len(self))
        names = split.split("+")
        bad = [n for n in names if n not in SPLIT_CODES]
        if bad:
            raise KeyError(f"unknown split {split!r}; use train, valid, test, train+valid or all")
        mask = np.isin(self.meta["split"], [SPLIT_CODES[n] for n in names])
        return np.nonzero(mask)[0]

    def index(self, example_id: str) -> int:
        try:
            return self._index[example_id]
        except (KeyError, TypeError):
            raise KeyError(f"{example_id!r} is not in {self.path}") from None

    def read_reflections(
        self, rows: np.ndarray, verify: bool = True
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        exs = [self._examples[int(r)] for r in np.asarray(rows).reshape(-1)]
        hs = [np.asarray(ex.hkl, dtype=np.int16) for ex in exs]
        Fs = [np.asarray(ex.F, dtype=np.complex64) for ex in exs]
        return hs, Fs

    def read_atoms(self, row: int, verify: bool = True) -> dict:
        return {k: v.copy() for k, v in self._atoms[int(row)].items()}

    def get(self, key: str | int, verify: bool = True) -> Example:
        row = self.index(key) if isinstance(key, str) else int(key)
        ex = self._examples[row]
        (hkl,), (F,) = self.read_reflections(np.array([row]))
        atoms = self.read_atoms(row)
        return Example(
            id=ex.id,
            pdb_id=ex.pdb_id,
            entity=int(ex.entity),
            chain=ex.chain,
            start=int(ex.start),
            sequence=ex.sequence,
            elements=atoms["element"],
            atom_names=atoms["name"],
            residue_names=np.asarray(ex.residue_names),
            residue_index=atoms["residue"],
            positions=atoms["xyz"],
            cell=gemmi.UnitCell(*self.meta["cell"][row].tolist()),
            dmin=float(self.meta["dmin"][row]),
            rate=float(self.meta["rate"][row]),
            grid_shape=tuple(int(x) for x in self.meta["grid_shape"][row]),
            hkl=hkl,
            F=F,
            split=self._splits[row],
        )


# the StoreLike protocol documents these once; MemoryStore implements them as written there
for _name in ("ids", "positions", "index", "read_reflections", "read_atoms", "get"):
    getattr(MemoryStore, _name).__doc__ = getattr(StoreLike, _name).__doc__
del _name


def _stored_atoms(ex: Example) -> dict:
    """The atoms as a zarr store keeps them (names cut to 4 bytes, xyz in float32)."""
    names = np.asarray(ex.atom_names, dtype="S4").astype(str)
    return {
        "element": np.asarray(ex.elements).astype(str),
        "name": names,
        "residue": np.asarray(ex.residue_index, dtype=np.int32),
        "xyz": np.asarray(ex.positions, dtype=np.float32).astype(np.float64),
    }


def _meta_columns(examples: Sequence[Example], splits: Sequence[str]) -> dict:
    from crysbench.store import example_checksum

    n = len(examples)
    shapes = np.array([tuple(ex.grid_shape) for ex in examples], dtype=np.int16).reshape(n, 3)
    _, bucket = np.unique(shapes, axis=0, return_inverse=True) if n else (None, np.zeros(0))
    return {
        "id": np.array([ex.id for ex in examples], dtype=str),
        "pdb_id": np.array([ex.pdb_id for ex in examples], dtype=str),
        "entity": np.array([ex.entity for ex in examples], dtype=np.int32),
        "chain": np.array([ex.chain for ex in examples], dtype=str),
        "start": np.array([ex.start for ex in examples], dtype=np.int32),
        "sequence": np.array([ex.sequence for ex in examples], dtype=str),
        "split": np.array([SPLIT_CODES[s] for s in splits], dtype=np.int8),
        "bucket": np.asarray(bucket, dtype=np.int32).reshape(-1),
        "cell": np.array([ex.cell.parameters for ex in examples], dtype=np.float64).reshape(n, 6),
        "dmin": np.array([ex.dmin for ex in examples], dtype=np.float64),
        "rate": np.array([ex.rate for ex in examples], dtype=np.float64),
        "grid_shape": shapes,
        "checksum": np.array(
            [example_checksum(ex.hkl, ex.F, ex.grid_shape) for ex in examples], dtype=str
        ),
    }


def _normalization(examples: Sequence[Example], codes: np.ndarray) -> dict:
    """The build's scale constants (:func:`crysbench.assemble.normalization`)."""
    from crysbench.assemble import normalization

    if not len(examples):
        return {"density": {"scale": 1.0}, "patterson": {"scale": 1.0}}
    dens = [ex.density for ex in examples]
    stats = {  # each example its own group; float32 extremes, as the build keeps them
        "density_max": np.array([d.max() for d in dens], dtype=np.float32).astype(np.float64),
        "density_min": np.array([d.min() for d in dens], dtype=np.float32).astype(np.float64),
        # P(0) = (2/V) Σ |F|² over the half sphere, as crysbench.build_entry records it
        "patterson_max": np.array(
            [
                2.0 * np.sum(np.abs(np.asarray(ex.F, np.complex128)) ** 2) / ex.cell.volume
                for ex in examples
            ],
            dtype=np.float64,
        ),  # fmt: skip
    }
    return normalization(stats, np.asarray(codes))
