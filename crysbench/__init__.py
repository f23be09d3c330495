"""crysbench: a benchmark for machine-learned phasing of protein crystal data.

Public API
----------
generate_examples
    PDB/mmCIF file -> Patterson/density examples (:mod:`crysbench.example`).
get_variant
    The frozen dataset recipes (:mod:`crysbench.variants`).
"""

from crysbench._version import __version__
from crysbench.example import Example, generate_examples, make_example
from crysbench.segments import Rejection, Segment, cut_segments
from crysbench.structures import StructureError, bundled_entries, read_entry
from crysbench.variants import VARIANTS, Variant, get_variant

__all__ = [
    "__version__",
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
