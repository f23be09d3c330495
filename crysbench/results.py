"""Results files: what ``crysbench evaluate`` writes and boards read (SPEC §6). (io)

A results dict (``schema_version`` 1) holds the run's identity (variant, test
fingerprint, split, engine, settings), its provenance (:func:`provenance`: the recipe
hash and the versions of Python, NumPy, gemmi, zarr and crysbench, additive fields), the
shell edges, the aggregate (:func:`crysbench.rows.aggregate`) and the per-example rows.
:func:`write_results` writes it as strict JSON (no NaN).

Examples
--------
>>> import json, os, tempfile
>>> path = write_results({"schema_version": 1, "x": float("nan")},
...                      os.path.join(tempfile.mkdtemp(), "r.json"))
>>> json.loads(path.read_text())
{'schema_version': 1, 'x': None}
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

from crysbench.rows import clean

__all__ = ["SCHEMA_VERSION", "library_versions", "provenance", "read_results", "write_results"]

SCHEMA_VERSION = 1


def library_versions() -> dict[str, str]:
    """Versions of the libraries a score depends on.

    Returns
    -------
    dict
        ``python``, ``numpy``, ``gemmi``, ``zarr``, ``crysbench`` → version string.

    Examples
    --------
    >>> sorted(library_versions())
    ['crysbench', 'gemmi', 'numpy', 'python', 'zarr']
    """
    import gemmi
    import numpy
    import zarr

    from crysbench._version import __version__

    return {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "gemmi": gemmi.__version__,
        "zarr": zarr.__version__,
        "crysbench": __version__,
    }


def provenance(store: Any, variant: Any) -> dict[str, Any]:
    """The recipe hash and library versions recorded with a results file.

    Parameters
    ----------
    store : Store-like
        Its ``recipe_hash`` (when it has one) is the one recorded.
    variant : crysbench.variants.Variant
        The recipe; its hash is used for store-like objects without one.

    Returns
    -------
    dict
        ``recipe_hash`` (str) and ``versions`` (:func:`library_versions`).

    Examples
    --------
    >>> from crysbench.variants import get_variant
    >>> v = get_variant("const-res@1")
    >>> provenance(object(), v)["recipe_hash"] == v.recipe_hash
    True
    """
    recipe_hash = getattr(store, "recipe_hash", None) or variant.recipe_hash
    return {"recipe_hash": str(recipe_hash), "versions": library_versions()}


def write_results(results: dict, path: str | Path) -> Path:
    """Write results as JSON (strict: no NaN), creating parent folders.

    Parameters
    ----------
    results : dict
        As returned by :func:`crysbench.evaluate`.
    path : str or Path
        The file to write (replaced if it exists).

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(clean(results), indent=1, allow_nan=False) + "\n")
    return path


def read_results(path: str | Path) -> dict:
    """Read a results file.

    Parameters
    ----------
    path : str or Path
        A file written by :func:`write_results`.

    Returns
    -------
    dict
        The results.

    Raises
    ------
    ValueError
        Not JSON, or not a crysbench results object (no ``schema_version``).
    """
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict) or "schema_version" not in data:
        raise ValueError(f"{path} is not a crysbench results file")
    return data
