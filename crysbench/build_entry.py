"""The per-entry stage of a build: one PDB entry → one cached part file. (io)

:func:`process_entry` is the task that a build runs for every entry, in a worker
process or on a cluster. Its result file is keyed on the recipe hash *and* the
SHA-256 of the input file, so a source file fixed after a failed build is read
again, and an unchanged entry of a new PDB release is never redone. Whatever goes
wrong inside one entry (an absurd coordinate, a parser failure, an out-of-memory
inside gemmi) becomes that entry's rejection; the build goes on.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import time
from pathlib import Path

import gemmi
import numpy as np

from crysbench.segments import Rejection
from crysbench.staging import PartError, read_header, write_part
from crysbench.store import example_checksum
from crysbench.structures import CurationRules, StructureError, read_entry
from crysbench.variants import get_variant
from crysbench.workspace import open_files, peak_rss

__all__ = ["process_entry", "part_name", "source_hash", "absurd_coordinates", "MAX_RESIDUE_EXTENT"]

#: No atom of a standard residue lies farther than this from the residue's first
#: atom (Arg/Lys side chains reach ~7.5 Å from N); beyond it the model is absurd.
MAX_RESIDUE_EXTENT = 12.0  # Å
#: Coordinates beyond the PDB format's own range are absurd (Å).
MAX_COORDINATE = 9999.0


def source_hash(path: str | Path) -> str:
    """First 16 hex digits of the SHA-256 of an input file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def part_name(pdb_id: str, src_hash: str) -> str:
    """File name of an entry's part: ``<PDBID>-<source hash>.part``."""
    return f"{pdb_id}-{src_hash}.part"


def absurd_coordinates(structure: gemmi.Structure) -> str | None:
    """Why the first model's protein coordinates are physically absurd, or ``None``.

    Catches what the curation cannot: non-finite or out-of-range coordinates, and
    atoms far from the rest of their residue (a mistyped or shifted coordinate),
    which would otherwise give a huge cell and grid and exhaust memory.

    Examples
    --------
    >>> st = gemmi.read_structure(str(__import__("crysbench").structures.bundled_entries()["1A8O"]))
    >>> absurd_coordinates(st) is None
    True
    >>> st[0][0][5][0].pos = gemmi.Position(9000.0, 0.0, 0.0)
    >>> absurd_coordinates(st)[:24]
    'atom far from its residu'
    """
    if len(structure) == 0:
        return None
    # One pass of Python over the residues collects the coordinates; the checks run on
    # all atoms at once (this runs on every entry of a build).
    where, xyz, first = [], [], []
    for chain in structure[0]:
        for res in chain:
            if len(res) == 0 or not _is_amino_acid(res.name):
                continue  # waters and ligands are dropped anyway
            where.append((chain.name, res.name, res.seqid))
            first.append(len(xyz))
            xyz.extend(a.pos.tolist() for a in res)
    if not xyz:
        return None
    xyz = np.array(xyz)
    starts = np.array(first)
    out_of_range = ~np.isfinite(xyz).all(axis=1) | (np.abs(xyz) > MAX_COORDINATE).any(axis=1)
    bad_range = np.logical_or.reduceat(out_of_range, starts)
    owner = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(xyz))))
    with np.errstate(invalid="ignore", over="ignore"):
        dist = np.linalg.norm(xyz - xyz[starts][owner], axis=1)
    far = np.maximum.reduceat(np.where(np.isnan(dist), 0.0, dist), starts)
    bad = bad_range | (far > MAX_RESIDUE_EXTENT)
    if not bad.any():
        return None
    i = int(np.argmax(bad))  # the first bad residue, in model order
    chain, name, seqid = where[i]
    if bad_range[i]:
        return f"coordinates out of range in {chain} {name} {seqid}"
    return (
        f"atom far from its residue: {chain} {name} {seqid} spans "
        f"{far[i]:.1f} Å (> {MAX_RESIDUE_EXTENT} Å)"
    )


@functools.cache
def _is_amino_acid(name: str) -> bool:
    info = gemmi.find_tabulated_residue(name)
    return info is not None and info.is_amino_acid()


def _record(ex, density: np.ndarray) -> tuple[dict, dict]:
    """Header columns and record of one example (what the store keeps of it)."""
    from crysbench.example import atomic_numbers

    z = atomic_numbers(ex.elements)
    names = np.frombuffer(np.asarray(ex.atom_names, dtype="S4").tobytes(), dtype=np.uint8).reshape(
        -1, 4
    )  # ASCII, NUL-padded to 4 bytes (longer names cut, as PDB does)
    F = np.asarray(ex.F)
    refl = np.concatenate(
        [np.stack([F.real, F.imag], axis=1).astype(np.float32), ex.hkl.astype(np.float32)], axis=1
    )
    stats = {
        "density_max": float(density.max()),
        "density_min": float(density.min()),
        # The Patterson's largest value is its origin peak, P(0) = (1/V) Σ_h |F(h)|²
        # (|P(u)| ≤ P(0) for an autocorrelation), so no Patterson synthesis is needed.
        # kept in float64 here (the meta column is float32; the scale uses the max)
        "patterson_max": float(2.0 * np.sum(np.abs(F.astype(np.complex128)) ** 2) / ex.cell.volume),
    }
    head = {
        "id": ex.id,
        "pdb_id": ex.pdb_id,
        "chain": ex.chain,
        "sequence": ex.sequence,
        "checksum": example_checksum(ex.hkl, ex.F, ex.grid_shape),
        "entity": int(ex.entity),
        "start": int(ex.start),
        "dmin": float(ex.dmin),
        "rate": float(ex.rate),
        "cell": [float(x) for x in ex.cell.parameters],
        "grid_shape": [int(x) for x in ex.grid_shape],
        "n_refl": int(len(refl)),
        "n_atom": int(len(z)),
        **stats,
    }
    columns = {
        "entity": head["entity"],
        "start": head["start"],
        "grid_shape": head["grid_shape"],
        **stats,
    }
    record = {
        "head": head,
        "refl": refl,
        "element": z,
        "name": names,
        "residue": ex.residue_index.astype(np.int16),
        "xyz": ex.positions.astype(np.float32),
    }
    return columns, record


def _generate(path: str, pdb_id: str, variant_key: str):
    from crysbench.example import examples_from_entry

    v = get_variant(variant_key)
    t0 = time.perf_counter()
    rejected: list[Rejection] = []
    examples: list[tuple[dict, dict]] = []
    timing: collections.Counter = collections.Counter()
    try:
        entry = read_entry(path, pdb_id=pdb_id)
        reasons = entry.curation_reasons(CurationRules.for_recipe(v.curation))
        timing["read"] += time.perf_counter() - t0
        if not reasons:
            absurd = absurd_coordinates(entry.structure)
            reasons = [f"absurd coordinates: {absurd}"] if absurd else []
        if reasons:
            rejected.extend(Rejection(pdb_id, r, "entry") for r in reasons)
        else:
            for ex in examples_from_entry(entry, v, rejected):
                timing["cell"] += ex.timings["cell"]
                timing["structure_factors"] += ex.timings["structure_factors"]
                t1 = time.perf_counter()
                d = ex.density
                timing["maps"] += time.perf_counter() - t1
                examples.append(_record(ex, d))
    except StructureError as exc:
        rejected, examples = [Rejection(pdb_id, f"unreadable: {exc}", "entry")], []
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # one bad entry never stops a build (MemoryError included)
        rejected = [Rejection(pdb_id, f"crashed: {type(exc).__name__}: {exc}"[:300], "entry")]
        examples = []
    # sort by (grid shape, entity, start): an entry's examples come out in store order
    examples.sort(key=lambda e: (tuple(e[0]["grid_shape"]), e[0]["entity"], e[0]["start"]))
    timing["total"] = time.perf_counter() - t0
    return examples, rejected, dict(timing)


def process_entry(path: str, pdb_id: str, variant_key: str, parts_dir: str) -> dict:
    """Make (or find cached) all examples of one entry; returns its summary.

    Parameters
    ----------
    path : str
        The entry's PDB/mmCIF file.
    pdb_id : str
    variant_key : str
        ``"const-res@1"`` etc.
    parts_dir : str
        Folder of part files for this recipe.

    Returns
    -------
    dict
        ``pdb_id``, ``part`` (path), ``examples`` (per-example plan columns and
        record byte ranges as arrays, :func:`crysbench.plan.compact`),
        ``stats``, ``rejections``, ``timing``, ``cached``, and the worker's
        ``rss`` (peak, bytes) and ``fds`` (open files when done).
    """
    cpu0 = time.process_time()
    v = get_variant(variant_key)
    src = source_hash(path)
    part = Path(parts_dir) / part_name(pdb_id, src)
    header = None
    if part.is_file():
        try:
            header = read_header(part)
            if header.get("recipe_hash") != v.recipe_hash or header.get("pdb_id") != pdb_id:
                header = None
        except PartError:
            header = None  # damaged cache entry: redo it
    cached = header is not None
    if header is None:
        examples, rejected, timing = _generate(path, pdb_id, variant_key)
        write_part(
            part,
            {
                "pdb_id": pdb_id,
                "variant": v.key,
                "recipe_hash": v.recipe_hash,
                "source_sha256": src,
                "rejections": [[r.id, r.reason, r.stage] for r in rejected],
                "timing": timing,
            },
            examples,
        )
        header = read_header(part)
    from crysbench.plan import compact

    rows, stats = compact(header["examples"])
    return {
        "pdb_id": pdb_id,
        "part": str(part),
        "examples": rows,
        "stats": stats,
        "rejections": header["rejections"],
        "timing": {} if cached else header["timing"],
        "cached": cached,
        "cpu": time.process_time() - cpu0,
        "rss": peak_rss(),
        "fds": open_files(),
    }
