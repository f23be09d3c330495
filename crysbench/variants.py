"""Frozen, versioned dataset recipes (SPEC §2).

A variant is named ``"<name>@<version>"`` (e.g. ``"var-res@1"``). Any change that
alters a single output byte must add a *new* version here; old versions stay
buildable. The recipe hash covers every parameter, so a store built from a recipe
can be checked against the code that reads it.

Examples
--------
>>> from crysbench.variants import get_variant
>>> v = get_variant("const-res")
>>> v.key, v.segment_length, v.stride
('const-res@2', 15, 10)
>>> v.draw_resolution("3HSY_1.pd_11")
(1.5, 3.0)
>>> get_variant("var-res@2").draw_resolution("3HSY_1.pd_11")
(1.9036, 2.3325)

Recipes @2 (the defaults) differ from @1 in five fields: ``gap_rule="seqres"``
(missing residues from the deposited sequence, :mod:`crysbench.segments`),
``bit_generator="sha256-counter"`` (pinned draws, :mod:`crysbench.streams`),
``sf_rate=1.25, sf_cutoff=2e-4`` (structure factors within 0.3 % and 0.15° in
every resolution shell, ``benchmarks/sf_accuracy.py``) and ``curation="release"``
(release date, joint X-ray/neutron entries kept,
:class:`crysbench.structures.CurationRules`).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from typing import Any

import numpy as np

from crysbench.streams import BIT_GENERATOR, PinnedStream

__all__ = [
    "Variant",
    "VARIANTS",
    "get_variant",
    "example_rng",
    "parse_variant_key",
    "library_versions",
    "recipe_constant",
]

#: Fields added with recipes @2, with the value that reproduces @1. They are left
#: out of :meth:`Variant.to_dict` at that value, so @1 recipe hashes do not move.
_V1_DEFAULTS = {
    "gap_rule": "numbering",
    "bit_generator": "numpy-default_rng",
    "curation": "deposition",
}


@dataclasses.dataclass(frozen=True)
class Variant:
    """One frozen recipe.

    Parameters
    ----------
    name : str
        ``"dipeptide"``, ``"const-res"`` or ``"var-res"``.
    version : int
        Recipe version; bumped whenever output bytes change.
    segment_length : int
        Residues per segment.
    stride : int
        Offset between consecutive segment starts inside a contiguous run of
        modelled residues (overlap = ``segment_length - stride``).
    dmin_range : tuple of float
        Resolution limit in Å; equal bounds mean a constant resolution.
    rate_range : tuple of float
        Grid sampling rate (dmin / spacing, CCP4's sense); equal bounds mean constant.
    b_factor : float
        Isotropic B (Å²) given to every atom.
    min_contact : float
        Minimal intermolecular contact (Å) in the P1 lattice.
    angle_choices, angle_probs : tuple of float
        Cell angles (degrees) and their probabilities.
    cell_step : float
        Uniform growth step (Å) of the cell lengths.
    cell_max_growth : float
        Largest growth (Å) before a fragment is rejected as clashing.
    seed : int
        Seed mixed with each example id for per-example randomness.
    split_key : str
        Key of the keyed hash assigning PDB entries to splits.
    test_fraction, valid_fraction : float
        Fractions of PDB entries in test and in the validation part of train.
    sf_rate, sf_cutoff : float
        Settings of gemmi's DensityCalculatorX for of the internal structure-factor grid,
        with Refmac-compatible blur. @1: rate 1.0, cutoff 1e-4 (amplitude R up to
        ~3.5 % and mean phase error up to ~3° in the outer shells against direct
        summation). @2: rate 1.25, cutoff 2e-4 (worst shell R 0.25 %, mean phase error
        0.14°, about 1.2–1.3× the time; ``benchmarks/sf_accuracy.py``).
    gap_rule : str
        ``"numbering"`` (@1) or ``"seqres"`` (@2), see :func:`crysbench.segments.cut_segments`.
    bit_generator : str
        ``"numpy-default_rng"`` (@1: NumPy ``Generator`` methods) or
        ``"sha256-counter"`` (@2: :class:`crysbench.streams.PinnedStream`).
    curation : str
        ``"deposition"`` (@1: deposition year, first experimental method) or
        ``"release"`` (@2: release date and any method, as the RCSB query), see
        :meth:`crysbench.structures.CurationRules.for_recipe`.
    """

    name: str
    version: int
    segment_length: int
    stride: int
    dmin_range: tuple[float, float]
    rate_range: tuple[float, float]
    b_factor: float = 20.0
    min_contact: float = 3.45
    angle_choices: tuple[float, ...] = (90.0, 100.0, 110.0, 120.0)
    angle_probs: tuple[float, ...] = (1 / 3, 1 / 3, 2 / 9, 1 / 9)
    cell_step: float = 0.25
    cell_max_growth: float = 20.0
    seed: int = 20240601
    split_key: str = "crysbench-split-v1-131"
    test_fraction: float = 0.10
    valid_fraction: float = 0.05
    sf_rate: float = 1.0  # gemmi's rate for the internal structure-factor grid
    sf_cutoff: float = 1e-4  # gemmi's density cutoff when placing atoms
    gap_rule: str = "numbering"
    bit_generator: str = "numpy-default_rng"
    curation: str = "deposition"

    @property
    def key(self) -> str:
        """``"name@version"``."""
        return f"{self.name}@{self.version}"

    @property
    def overlap(self) -> int:
        """Residues shared by consecutive segments of one run."""
        return max(self.segment_length - self.stride, 0)

    def to_dict(self) -> dict:
        """All recipe parameters as plain JSON types.

        Returns
        -------
        dict
            Field → value (tuples as lists); fields at their @1 defaults are left out.
        """
        d = dataclasses.asdict(self)
        d = {k: v for k, v in d.items() if not (k in _V1_DEFAULTS and v == _V1_DEFAULTS[k])}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @property
    def recipe_hash(self) -> str:
        """SHA-256 of the canonical JSON of the recipe (first 16 hex digits)."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def draw_resolution(self, example_id: str) -> tuple[float, float]:
        """Resolution limit (Å) and sampling rate for one example.

        Drawn from the example's own RNG stream (see :func:`example_rng`), so the
        value does not depend on processing order. Values are rounded to 4 decimals
        so that they print and store exactly.

        Parameters
        ----------
        example_id : str
            The example.

        Returns
        -------
        dmin : float
            Resolution limit (Å).
        rate : float
            Grid sampling rate.
        """
        rng = example_rng(self, example_id, "resolution")
        if isinstance(rng, PinnedStream):
            lo, hi = self.dmin_range
            dmin = lo if lo == hi else round(rng.uniform(lo, hi), 4)
            lo, hi = self.rate_range
            rate = lo if lo == hi else round(rng.uniform(lo, hi), 4)
            return dmin, rate
        lo, hi = self.dmin_range
        dmin = lo if lo == hi else round(float(rng.uniform(lo, hi)), 4)
        lo, hi = self.rate_range
        rate = lo if lo == hi else round(float(rng.uniform(lo, hi)), 4)
        return dmin, rate


def example_rng(
    variant: Variant, example_id: str, stream: str
) -> np.random.Generator | PinnedStream:
    """The random stream of (variant seed, example id, stream name) only.

    @1 recipes: a NumPy ``Generator`` seeded from SHA-256 of the three; @2 recipes
    (``bit_generator="sha256-counter"``): a :class:`crysbench.streams.PinnedStream`.

    >>> v = get_variant("var-res")
    >>> a = example_rng(v, "1A8O_1.pd_1", "cell").random()
    >>> b = example_rng(v, "1A8O_1.pd_1", "cell").random()
    >>> a == b
    True
    """
    if variant.bit_generator == BIT_GENERATOR:
        return PinnedStream(variant.seed, example_id, stream)
    if variant.bit_generator != _V1_DEFAULTS["bit_generator"]:
        raise ValueError(f"unknown bit generator {variant.bit_generator!r}")
    digest = hashlib.sha256(f"{variant.seed}:{example_id}:{stream}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


VARIANTS: dict[str, Variant] = {
    v.key: v
    for v in (
        # Dipeptides: 2 residues, stride 1 (every window; overlap 1 residue).
        Variant("dipeptide", 1, 2, 1, (1.5, 1.5), (3.0, 3.0)),
        Variant("const-res", 1, 15, 10, (1.5, 1.5), (3.0, 3.0)),
        Variant("var-res", 1, 15, 10, (1.6, 2.25), (2.305, 2.745)),
    )
}
_V2 = {
    "sf_rate": 1.25,
    "sf_cutoff": 2e-4,
    "gap_rule": "seqres",
    "bit_generator": BIT_GENERATOR,
    "curation": "release",
}
VARIANTS.update(
    {
        f"{v.name}@2": dataclasses.replace(v, version=2, **_V2)
        for v in list(VARIANTS.values())
        if v.version == 1
    }
)


def library_versions() -> dict[str, str]:
    """Versions of the libraries whose arithmetic makes the bytes (for stores, results).

    >>> sorted(library_versions())
    ['gemmi', 'numpy', 'scipy']
    """
    import gemmi
    import scipy

    return {"gemmi": gemmi.__version__, "numpy": np.__version__, "scipy": scipy.__version__}


def parse_variant_key(key: str) -> tuple[str, int | None]:
    """Split ``"var-res@1"`` into ``("var-res", 1)``; no ``@`` gives ``None``."""
    if "@" in key:
        name, ver = key.split("@", 1)
        try:
            return name, int(ver)
        except ValueError:
            raise ValueError(f"bad variant version in {key!r}: expected an integer") from None
    return key, None


def get_variant(key: str | Variant) -> Variant:
    """Look up a recipe by ``"name"`` (latest version) or ``"name@version"``.

    Parameters
    ----------
    key : str or Variant
        ``"const-res@2"``, ``"const-res"`` (latest version) or a Variant (returned as is).

    Returns
    -------
    Variant
        The frozen recipe.

    Raises
    ------
    KeyError
        With the list of known variants, when the name or version is unknown.
    """
    if isinstance(key, Variant):
        return key
    name, ver = parse_variant_key(key)
    versions = sorted(v.version for v in VARIANTS.values() if v.name == name)
    if not versions:
        known = ", ".join(sorted({v.name for v in VARIANTS.values()}))
        raise KeyError(f"unknown variant {name!r}; known variants: {known}")
    if ver is None:
        ver = versions[-1]
    if ver not in versions:
        raise KeyError(f"unknown version {name}@{ver}; available: {versions}")
    return VARIANTS[f"{name}@{ver}"]


@functools.cache
def recipe_constant(field: str) -> Any:
    """The value of a recipe field that every variant shares, for code without a variant.

    Residue densities and a stored example's gemmi structure have no variant at hand; they
    read the B factor here, so the registry stays the one place it is written.

    Raises
    ------
    ValueError
        When the variants disagree: the caller must then be given its variant.

    Examples
    --------
    >>> recipe_constant("b_factor")
    20.0
    """
    values = {getattr(v, field) for v in VARIANTS.values()}
    if len(values) != 1:
        raise ValueError(f"recipe field {field!r} differs between variants: {sorted(values)}")
    return values.pop()
