"""SHELXD-style ab-initio direct-methods baseline (issue 9, SPEC §7).

Two engines produce predicted density maps in the evaluator's format from
amplitudes only: ``"dualspace"`` (open, NumPy: HIO phase retrieval of the isolated
fragment with a shrink-wrapped support seeded from the Patterson superposition
function, scored by SHELXD's CFOM and by trial agreement) and ``"shelxd"`` (drives a
real ``shelxd`` binary when one is on PATH).

>>> from baselines.shelxd import solve_example      # doctest: +SKIP
>>> sol = solve_example(example, trials=48, seed=0)  # doctest: +SKIP
>>> sol.density.shape == example.grid_shape          # doctest: +SKIP
True
"""

from baselines.shelxd.dualspace import Params
from baselines.shelxd.emap import normalize
from baselines.shelxd.predict import solve_store
from baselines.shelxd.solver import AGREEMENT, Solution, composition_of, solve, solve_example

__all__ = [
    "AGREEMENT",
    "Params",
    "Solution",
    "composition_of",
    "normalize",
    "solve",
    "solve_example",
    "solve_store",
]
