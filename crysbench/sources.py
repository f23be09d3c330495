"""Where structures come from: bundled entries, a local folder or PDB mirror. (io)

``rcsb`` and ``paper`` sources live in :mod:`crysbench.rcsb` (the only network code).

Examples
--------
>>> from crysbench.sources import resolve_source
>>> entries = resolve_source("bundled")
>>> sorted(entries)[:3]
['19HC', '1A28', '1A7G']
"""

from __future__ import annotations

from pathlib import Path

from crysbench.structures import bundled_entries, pdb_id_from_path

__all__ = ["local_entries", "resolve_source", "SourceError"]

_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif", ".pdb.gz", ".ent.gz", ".cif.gz", ".mmcif.gz")


class SourceError(ValueError):
    """A source that names nothing usable."""


def local_entries(folder: str | Path) -> dict[str, Path]:
    """PDB/mmCIF files in a folder: flat, or the archive's ``xy/pdbXXXX.ent.gz`` layout.

    When an id appears twice (e.g. PDB and mmCIF), the PDB format file wins (the
    paper worked from legacy PDB files), then the shorter path.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise SourceError(f"{folder}: not a folder of PDB/mmCIF files")
    found: dict[str, Path] = {}
    for p in sorted(folder.rglob("*")):
        name = p.name.lower()
        if not p.is_file() or not name.endswith(_SUFFIXES):
            continue
        pid = pdb_id_from_path(p)
        if len(pid) != 4:
            continue
        old = found.get(pid)
        if old is None or (".cif" in old.name.lower() and ".cif" not in name):
            found[pid] = p
    if not found:
        raise SourceError(f"{folder}: no PDB/mmCIF files found (flat or xy/pdbXXXX.ent.gz)")
    return found


def resolve_source(source: str, cache_dir: str | Path | None = None, **kwargs) -> dict[str, Path]:
    """Entries of a source as ``{pdb_id: path}``.

    Parameters
    ----------
    source : str
        ``"bundled"`` (default demo), ``"rcsb"``, ``"paper"``, or a local folder.
    cache_dir : str or Path, optional
        Download cache for the network sources.
    """
    if source == "bundled":
        return bundled_entries()
    if source in ("rcsb", "paper"):
        from crysbench import rcsb

        return rcsb.resolve(source, cache_dir=cache_dir, **kwargs)
    return local_entries(source)
