"""Reading PDB/mmCIF entries and their header metadata; curation rules (SPEC §3.1).

Reading goes through gemmi (PDB and mmCIF, plain or gzipped). Anything gemmi
cannot read, or a file without a protein model, raises :class:`StructureError`
naming the file.

Examples
--------
>>> from crysbench.structures import read_entry, bundled_entries
>>> entry = read_entry(bundled_entries()["1A8O"])
>>> entry.pdb_id, entry.info.method, entry.info.resolution
('1A8O', 'X-RAY DIFFRACTION', 1.7)
>>> entry.curation_reasons()
[]
"""

from __future__ import annotations

import dataclasses
import gzip
import re
from importlib import resources
from pathlib import Path

import gemmi

__all__ = [
    "StructureError",
    "EntryInfo",
    "Entry",
    "CurationRules",
    "read_entry",
    "bundled_entries",
    "pdb_id_from_path",
]


class StructureError(ValueError):
    """A structure file that cannot be read or used; the message names the file."""


@dataclasses.dataclass(frozen=True)
class CurationRules:
    """Entry-level filters of the paper (Appendix B).

    Parameters
    ----------
    date : {"deposition", "release"}
        Which date must fall in ``min_year`` or later: the deposition date (recipes
        @1) or the initial release date (recipes @2, as the RCSB query's
        ``rcsb_accession_info.initial_release_date``; REVDAT 1 in PDB files, the
        first ``pdbx_audit_revision_history`` / ``database_PDB_rev`` in mmCIF).
    any_method : bool
        False (@1): the first experimental method must be ``method``. True (@2):
        any of them, as the RCSB query's ``exptl.method`` match, so joint X-ray /
        neutron entries are kept (their X-ray resolution and R-free are read).

    Examples
    --------
    >>> CurationRules.for_recipe("release").date
    'release'
    """

    method: str = "X-RAY DIFFRACTION"
    min_year: int = 1996  # "after 1995"
    max_resolution: float = 2.75
    max_r_free: float = 0.28
    min_polymer_length: int = 40
    date: str = "deposition"
    any_method: bool = False

    @classmethod
    def for_recipe(cls, curation: str) -> CurationRules:
        """Rules of a recipe's ``curation`` field (``"deposition"`` or ``"release"``)."""
        if curation == "deposition":
            return cls()
        if curation == "release":
            return cls(date="release", any_method=True)
        raise ValueError(f"unknown curation rule {curation!r}")


@dataclasses.dataclass(frozen=True)
class EntryInfo:
    """Header metadata used for curation."""

    method: str
    resolution: float | None
    r_free: float | None
    deposition_date: str | None
    polymer_lengths: tuple[int, ...]
    release_date: str | None = None
    methods: tuple[str, ...] = ()


@dataclasses.dataclass
class Entry:
    """A parsed entry: structure, header info and the chain of each protein entity.

    Attributes
    ----------
    pdb_id : str
        Upper-case PDB id.
    path : str
        Where it was read from.
    structure : gemmi.Structure
        The whole deposited structure (first model is used downstream).
    info : EntryInfo
    entity_chains : list of (int, str)
        ``(entity number, chain name)`` for every protein entity, its first chain.
    """

    pdb_id: str
    path: str
    structure: gemmi.Structure
    info: EntryInfo
    entity_chains: list[tuple[int, str]]

    def curation_reasons(self, rules: CurationRules | None = None) -> list[str]:
        """Why this entry fails the curation rules (empty list: it passes)."""
        rules = rules or CurationRules()
        reasons = []
        info = self.info
        methods = [m.upper() for m in info.methods] if rules.any_method else []
        if rules.any_method and info.method.upper() not in methods:
            methods.append(info.method.upper())
        if rules.any_method:
            if rules.method not in methods:
                reasons.append(f"methods {', '.join(methods) or 'unknown'} (need {rules.method})")
        elif info.method.upper() != rules.method:
            reasons.append(f"method {info.method or 'unknown'} (need {rules.method})")
        if info.resolution is None or info.resolution > rules.max_resolution:
            reasons.append(f"resolution {info.resolution} Å > {rules.max_resolution} Å")
        if info.r_free is None or info.r_free > rules.max_r_free:
            reasons.append(f"R-free {info.r_free} > {rules.max_r_free}")
        if rules.date == "release":
            if info.release_date and int(info.release_date[:4]) < rules.min_year:
                reasons.append(f"released {info.release_date} (before {rules.min_year})")
        elif info.deposition_date and int(info.deposition_date[:4]) < rules.min_year:
            reasons.append(f"deposited {info.deposition_date} (before {rules.min_year})")
        if not info.polymer_lengths or max(info.polymer_lengths) < rules.min_polymer_length:
            reasons.append(f"no protein chain of length >= {rules.min_polymer_length}")
        return reasons


_ID_RE = re.compile(r"(?:pdb)?([0-9][a-z0-9]{3})", re.IGNORECASE)


def pdb_id_from_path(path: str | Path) -> str:
    """PDB id from a file name: ``1abc.cif.gz``, ``pdb1abc.ent.gz``, ``1ABC.pdb``."""
    stem = Path(path).name.split(".")[0]
    m = _ID_RE.fullmatch(stem)
    return (m.group(1) if m else stem).upper()


def bundled_entries() -> dict[str, Path]:
    """The real PDB entries shipped with the package, by PDB id.

    Returns
    -------
    dict
        PDB id → path of the bundled file.
    """
    root = resources.files("crysbench") / "data" / "pdb"
    return {
        pdb_id_from_path(p.name): Path(str(p))
        for p in sorted(root.iterdir(), key=str)
        if p.name.split(".")[1] in ("pdb", "cif", "ent")
    }


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise StructureError(f"{path}: truncated or corrupt gzip file ({exc})") from None
    try:
        return raw.decode("utf-8", errors="replace")
    except Exception as exc:  # pragma: no cover - decode with replace does not raise
        raise StructureError(f"{path}: cannot decode ({exc})") from None


def _pdb_entity_chains(text: str) -> dict[str, int]:
    """Chain -> MOL_ID from the COMPND records of a PDB-format file."""
    mapping: dict[str, int] = {}
    compnd = "".join(line[10:80] for line in text.splitlines() if line.startswith("COMPND"))
    mol_id = None
    for field in compnd.split(";"):
        key, _, value = field.partition(":")
        key = key.strip().upper()
        if key == "MOL_ID":
            try:
                mol_id = int(value.strip())
            except ValueError:
                mol_id = None
        elif key == "CHAIN" and mol_id is not None:
            for ch in value.split(","):
                if ch.strip():
                    mapping.setdefault(ch.strip(), mol_id)
    return mapping


def read_entry(path: str | Path, pdb_id: str | None = None) -> Entry:
    """Read one PDB or mmCIF file (optionally gzipped).

    Parameters
    ----------
    path : str or Path
        The file.
    pdb_id : str, optional
        Overrides the id taken from the header or file name.

    Returns
    -------
    Entry
        The entry's model, entities and header fields.

    Raises
    ------
    StructureError
        Unreadable, truncated or empty files, naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise StructureError(f"{path}: no such file")
    text = _read_text(path)
    is_cif = text.lstrip().startswith("data_")
    try:
        if is_cif:
            doc = gemmi.cif.read_string(text)
            st = gemmi.make_structure_from_block(doc.sole_block())
        else:
            st = gemmi.read_pdb_string(text)
    except Exception as exc:
        raise StructureError(f"{path}: gemmi cannot parse it ({exc})") from None
    if len(st) == 0 or not any(len(ch) for ch in st[0]):
        raise StructureError(f"{path}: no atoms (empty or truncated file)")
    # First alternate conformation only (also resolves microheterogeneity,
    # e.g. PRO/SER at 3JQH A1), no hydrogens.
    st.remove_alternative_conformations()
    st.remove_hydrogens()
    st.setup_entities()
    pid = (pdb_id or _info(st, "_entry.id", "") or pdb_id_from_path(path)).upper()
    if not re.fullmatch(r"[0-9][A-Z0-9]{3}", pid):
        pid = pdb_id_from_path(path)

    method = _info(st, "_exptl.method", "")
    if not method and st.meta.experiments:
        method = st.meta.experiments[0].method
    resolution = st.resolution if st.resolution and st.resolution > 0 else None
    r_free = None
    for ref in st.meta.refinement:
        if ref.r_free == ref.r_free and ref.r_free > 0:  # not NaN
            r_free = round(float(ref.r_free), 4)
            break
    dep = _info(st, "_pdbx_database_status.recvd_initial_deposition_date") or None

    pdb_map = {} if is_cif else _pdb_entity_chains(text)
    entity_chains: list[tuple[int, str]] = []
    lengths = []
    seen: set[int] = set()
    model = st[0]
    for chain in model:
        polymer = chain.get_polymer()
        if len(polymer) == 0 or polymer.check_polymer_type() not in (
            gemmi.PolymerType.PeptideL,
            gemmi.PolymerType.PeptideD,
        ):
            continue
        ent_num = None
        if is_cif:
            ent = st.get_entity_of(polymer)
            if ent is not None and ent.name.isdigit():
                ent_num = int(ent.name)
        else:
            ent_num = pdb_map.get(chain.name)
        if ent_num is None:  # no COMPND: entities numbered by sequence
            ent = st.get_entity_of(polymer)
            names = [e.name for e in st.entities if e.entity_type == gemmi.EntityType.Polymer]
            ent_num = names.index(ent.name) + 1 if ent is not None and ent.name in names else 1
        ent = st.get_entity_of(polymer)
        lengths.append(
            len(ent.full_sequence) if ent is not None and ent.full_sequence else len(polymer)
        )
        if ent_num not in seen:
            seen.add(ent_num)
            entity_chains.append((ent_num, chain.name))
    methods: list[str] = []
    for text_method in [method] + [exp.method for exp in st.meta.experiments]:
        for m in text_method.split(";"):  # PDB EXPDTA: "X-RAY DIFFRACTION; NEUTRON ..."
            if m.strip() and m.strip().upper() not in methods:
                methods.append(m.strip().upper())
    info = EntryInfo(
        method.upper(),
        resolution,
        r_free,
        dep,
        tuple(lengths),
        _release_date(text, doc.sole_block() if is_cif else None),
        tuple(methods),
    )
    return Entry(pid, str(path), st, info, sorted(entity_chains))


_MONTHS = "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split()


def _release_date(text: str, block: gemmi.cif.Block | None) -> str | None:
    """Initial release date ``YYYY-MM-DD`` from the header (``block``: mmCIF), or None."""
    if block is not None:
        for tag, first in (
            ("_pdbx_audit_revision_history.revision_date", "_pdbx_audit_revision_history.ordinal"),
            ("_database_PDB_rev.date", "_database_PDB_rev.num"),
        ):
            dates = [gemmi.cif.as_string(x) for x in block.find_values(tag)]
            nums = [gemmi.cif.as_string(x) for x in block.find_values(first)]
            pairs = [(n, d) for n, d in zip(nums, dates) if re.fullmatch(r"\d{4}-\d\d-\d\d", d)]
            if pairs:
                return min(pairs, key=lambda p: int(p[0]) if p[0].isdigit() else 1 << 30)[1]
        return None
    m = re.search(r"^REVDAT +1 +(\d\d)-([A-Z]{3})-(\d\d) ", text, re.MULTILINE)
    if not m or m.group(2) not in _MONTHS:
        return None
    yy = int(m.group(3))
    year = 1900 + yy if yy >= 70 else 2000 + yy  # the PDB began in 1971
    return f"{year}-{_MONTHS.index(m.group(2)) + 1:02d}-{m.group(1)}"


def _info(st: gemmi.Structure, key: str, default: str = "") -> str:
    return st.info[key] if key in st.info else default
