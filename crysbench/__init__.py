"""crysbench: a benchmark for machine-learned phasing of protein crystal data.

Public API
----------
generate_examples
    PDB/mmCIF file -> Patterson/density examples (:mod:`crysbench.example`).
get_variant
    The frozen dataset recipes (:mod:`crysbench.variants`).
build_store, open_store, load_split
    Build a versioned zarr store; open it; load a split for training.
StoreWriter, StoreLayout
    The one writer of the store layout (blocks that own whole shards).
Evaluator, evaluate, metrics
    Score predicted maps (Pearson, phase error by shell, refinement rate): the
    OGB-style :class:`~crysbench.evaluator.Evaluator` and its one-call form.
load_predictions, write_predictions, write_results
    Predictions containers and results files.
HalfSphereGrid
    The one reciprocal-space kernel: reflections on an rfft grid, both ways
    (:mod:`crysbench.reciprocal`).
"""

from crysbench import metrics
from crysbench._version import __version__
from crysbench.build import BuildError, build_store
from crysbench.evaluator import Evaluator, evaluate
from crysbench.example import Example, generate_examples, make_example
from crysbench.load import SplitDataset, load_split
from crysbench.memstore import MemoryStore
from crysbench.predictions import EvaluationError, load_predictions, write_predictions
from crysbench.reciprocal import HalfSphereGrid
from crysbench.residue_density import residue_cubes
from crysbench.results import write_results
from crysbench.segments import Rejection, Segment, cut_segments
from crysbench.store import Store, StoreError, open_store
from crysbench.storelike import StoreLike
from crysbench.storewriter import StoreLayout, StoreWriter
from crysbench.structures import StructureError, bundled_entries, read_entry
from crysbench.variants import VARIANTS, Variant, get_variant

__all__ = [
    "__version__",
    "build_store",
    "BuildError",
    "StoreLayout",
    "StoreWriter",
    "Evaluator",
    "evaluate",
    "EvaluationError",
    "load_predictions",
    "write_results",
    "write_predictions",
    "metrics",
    "load_split",
    "residue_cubes",
    "HalfSphereGrid",
    "SplitDataset",
    "open_store",
    "Store",
    "StoreError",
    "StoreLike",
    "MemoryStore",
    "Example",
    "generate_examples",
    "make_example",
    "Rejection",
    "Segment",
    "cut_segments",
    "StructureError",
    "bundled_entries",
    "read_entry",
    "VARIANTS",
    "Variant",
    "get_variant",
]
