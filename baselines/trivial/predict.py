"""Write trivial-baseline predictions for a split of a store. (io)"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import crysbench
from baselines.trivial.maps import KINDS, trivial_map

__all__ = ["predict_split"]


def predict_split(store: str, kind: str, out: str | Path, split: str = "test") -> int:
    """Write ``<out>/<id>.npy`` (float32, physical units) for every example of ``split``.

    Parameters
    ----------
    store : str
        Store path.
    kind : {"zero", "patterson", "blob", "chain"}
        Which trivial map (:data:`baselines.trivial.maps.KINDS`).
    out : path
        Output folder (created).
    split : str
        Split to predict (the boards score ``test``).

    Returns
    -------
    int
        Number of maps written.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown trivial baseline {kind!r}; choose from {', '.join(KINDS)}")
    data = crysbench.load_split(store, split, normalize=None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    for item in data:  # iterates bucket by bucket: one read and one FFT per batch
        np.save(out / f"{item['id']}.npy", trivial_map(kind, item))
        n += 1
    return n
