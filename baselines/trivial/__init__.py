"""Trivial baselines: maps that use no learning and no phasing (the floor of every board).

``python -m baselines.trivial KIND --store STORE --split test --out predictions/``
writes one ``<id>.npy`` per example; see :mod:`baselines.trivial.maps`.
"""

from baselines.trivial.maps import (
    KINDS,
    blob_map,
    chain_map,
    patterson_map_centred,
    radius_of_gyration,
    trivial_map,
    zero_map,
)
from baselines.trivial.predict import predict_split

__all__ = [
    "KINDS",
    "blob_map",
    "chain_map",
    "patterson_map_centred",
    "radius_of_gyration",
    "trivial_map",
    "zero_map",
    "predict_split",
]
