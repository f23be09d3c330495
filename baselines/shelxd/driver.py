"""Driving a real ``shelxd`` binary: ``.ins``/``.hkl`` writers and ``.lst``/``.res`` parsers.

The binary is looked up on PATH (``shutil.which("shelxd")``). It runs in a scratch
directory on ``name.ins`` + ``name.hkl``; its per-try lines in ``name.lst``
(``Try 28, CPU 1, CC All/Weak 49.4 / 31.2, CFOM 80.7, ...``) and the atoms of the best
try in ``name.res`` are parsed back. A run that exceeds its time limit has a
``name.fin`` file created (SHELXD's clean-stop request) and, if it still does not
exit, its process group is killed; whatever ``.res`` exists is then used.

See ``/work/shared/notes/dualspace.md`` §5 for the file formats. Keywords marked
"to verify" there (``FIND``'s cycle count, ``MIND``'s second value, ``ESEL``) are
written in the form of the official small-molecule example only.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import gemmi
import numpy as np

from crysbench.refine import shelxe as shelx_files

__all__ = [
    "ShelxdError",
    "ShelxdRun",
    "find_shelxd",
    "format_ins",
    "format_hkl",
    "parse_lst",
    "parse_res",
    "run_shelxd",
]

_TRY = re.compile(
    r"Try\s*(\d+),\s*CPU\s*(\d+),\s*CC All/Weak\s*(-?[\d.]+)\s*/\s*(-?[\d.]+),\s*CFOM\s*(-?[\d.]+)"
)
_KEYWORDS = {
    "TITL", "CELL", "ZERR", "LATT", "SYMM", "SFAC", "UNIT", "FIND", "PLOP", "MIND", "NTRY",
    "ESEL", "HKLF", "END", "REM", "FVAR", "TEST", "PATS", "SHEL", "DSUL", "SEED", "WGHT",
    "L.S.", "FMAP", "PLAN", "MOVE", "AFIX", "HFIX", "RESI", "PART", "DISP", "LIST", "FRAG",
    "FEND", "TREF", "INIT", "PSMF", "ANIS", "BOND", "CONF", "ACTA", "OMIT", "GROP", "NTPR",
    "STIR", "DELU", "SIMU", "SADI", "DFIX", "FLAT", "CHIV", "ISOR", "EXYZ", "EADP", "EQIV",
    "TEMP", "SIZE", "MERG", "BASF", "SWAT", "HOPE", "WPDB", "CGLS", "BLOC", "DAMP", "TIME",
}  # fmt: skip


class ShelxdError(RuntimeError):
    """The binary is missing, failed, or produced nothing usable."""


@dataclasses.dataclass
class ShelxdRun:
    """Parsed result of one ``shelxd`` run.

    Attributes
    ----------
    tries : list of dict
        One per ``Try`` line: ``trial``, ``cpu``, ``cc_all``, ``cc_weak``, ``cfom`` (%).
    atoms : list of tuple
        ``(label, element, x, y, z, occupancy)`` with fractional coordinates, from ``.res``.
    timed_out : bool
    seconds : float
    returncode : int or None
    """

    tries: list[dict]
    atoms: list[tuple[str, str, float, float, float, float]]
    timed_out: bool = False
    seconds: float = 0.0
    returncode: int | None = None

    @property
    def best(self) -> dict | None:
        """The try with the highest CFOM, or None."""
        return max(self.tries, key=lambda t: t["cfom"]) if self.tries else None


def find_shelxd() -> str | None:
    """Path of a ``shelxd`` executable on PATH, or None."""
    return shutil.which("shelxd")


def format_ins(
    title: str,
    cell: gemmi.UnitCell,
    composition: Mapping[str, float],
    ntry: int = 100,
    find: int | None = None,
    mind: float = 1.0,
    esel: float = 1.2,
) -> str:
    """Contents of ``name.ins`` for a P1 small-molecule SHELXD run (HKLF 3 data).

    The crystal data come from the package's one writer,
    :func:`crysbench.refine.shelxe.format_ins`; this adds SHELXD's instructions.
    ``FIND`` defaults to 0.75 N, ``PLOP`` to N, 1.2 N, 1.4 N (N non-H atoms).

    Examples
    --------
    >>> text = format_ins("t", gemmi.UnitCell(20, 20, 20, 90, 90, 90), {"C": 8, "N": 2})
    >>> [line for line in text.splitlines() if line[:4] in ("FIND", "PLOP")]
    ['FIND 8', 'PLOP 10 12 14']
    """
    n = sum(int(round(v)) for e, v in composition.items() if e.upper() not in ("H", "D"))
    find = find if find is not None else max(1, int(round(0.75 * n)))
    plop = [n, int(round(1.2 * n)), int(round(1.4 * n))]
    instructions = [
        f"FIND {find}",
        "PLOP " + " ".join(str(p) for p in plop),
        f"MIND {mind:.2f} 3",
        f"NTRY {int(ntry)}",
        f"ESEL {esel:.2f}",
        "HKLF 3",
    ]
    return shelx_files.format_ins(title, cell, composition, instructions)


def format_hkl(hkl: np.ndarray, amplitudes: np.ndarray) -> str:
    """Contents of ``name.hkl`` (:func:`crysbench.refine.shelxe.format_hkl`, the one writer)."""
    return shelx_files.format_hkl(hkl, amplitudes)


def parse_lst(text: str) -> list[dict]:
    """Per-try figures of merit from ``.lst`` text (tolerates ``CPU10`` run together)."""
    tries = []
    for m in _TRY.finditer(text):
        tries.append({
            "trial": int(m.group(1)),
            "cpu": int(m.group(2)),
            "cc_all": float(m.group(3)),
            "cc_weak": float(m.group(4)),
            "cfom": float(m.group(5)),
        })  # fmt: skip
    return tries


def _is_number(tok: str) -> bool:
    try:
        float(tok)
    except ValueError:
        return False
    return True


def parse_res(text: str) -> tuple[list[str], list[tuple[str, str, float, float, float, float]]]:
    """SFAC names and atoms ``(label, element, x, y, z, occupancy)`` of a ``.res`` file.

    An atom line has a label that is not a SHELX keyword, an integer SFAC index
    and at least three numbers; ``=`` continues a line; parsing stops at HKLF/END.
    Occupancies are written as 10 + occupancy (fixed); the occupancy is returned.
    """
    joined: list[str] = []
    buf = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if buf:
            line = buf + " " + line.strip()
            buf = ""
        if line.endswith("="):
            buf = line[:-1]
            continue
        joined.append(line)
    if buf:
        joined.append(buf)
    sfac: list[str] = []
    atoms = []
    for line in joined:
        toks = line.split()
        if not toks:
            continue
        key = toks[0].upper()
        if key in ("HKLF", "END"):
            break
        if key == "SFAC":
            sfac.extend(t.capitalize() for t in toks[1:] if not _is_number(t))
            continue
        if key in _KEYWORDS or key.startswith("REM") or len(toks) < 5:
            continue
        if not re.fullmatch(r"\d+", toks[1]) or not all(_is_number(t) for t in toks[2:5]):
            continue
        idx = int(toks[1])
        el = sfac[idx - 1] if 1 <= idx <= len(sfac) else "C"
        x, y, z = (float(t) for t in toks[2:5])
        occ = 1.0
        if len(toks) > 5 and _is_number(toks[5]):
            sof = float(toks[5])
            occ = sof - 10.0 if sof > 5.0 else sof
        atoms.append((toks[0], el, x, y, z, occ))
    return sfac, atoms


def run_shelxd(
    workdir: str | os.PathLike,
    name: str,
    ins: str,
    hkl: str,
    timeout: float = 60.0,
    executable: str | None = None,
    grace: float = 5.0,
) -> ShelxdRun:
    """Run ``shelxd name`` in ``workdir`` and parse its output.

    Parameters
    ----------
    workdir : path
        Scratch directory (created if needed).
    name : str
        File stem.
    ins, hkl : str
        File contents from :func:`format_ins` and :func:`format_hkl`.
    timeout : float
        Seconds before ``name.fin`` is created; the process group is killed
        ``grace`` seconds later if it is still running.
    executable : str, optional
        Defaults to :func:`find_shelxd`.

    Raises
    ------
    ShelxdError
        When no executable is found or the run leaves neither tries nor atoms.
    """
    exe = executable or find_shelxd()
    if not exe:
        raise ShelxdError("no shelxd executable on PATH")
    wd = Path(workdir)
    wd.mkdir(parents=True, exist_ok=True)
    (wd / f"{name}.ins").write_text(ins)
    (wd / f"{name}.hkl").write_text(hkl)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [exe, name], cwd=wd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env=env, start_new_session=True,
    )  # fmt: skip
    timed_out = False
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        (wd / f"{name}.fin").write_text("")
        try:
            out, _ = proc.communicate(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
    seconds = time.perf_counter() - t0
    lst = wd / f"{name}.lst"
    text = lst.read_text(errors="replace") if lst.exists() else ""
    text += "\n" + (out or b"").decode(errors="replace")
    tries = parse_lst(text)
    res = wd / f"{name}.res"
    atoms = parse_res(res.read_text(errors="replace"))[1] if res.exists() else []
    if not tries and not atoms:
        raise ShelxdError(
            f"shelxd produced no tries and no atoms in {wd} (exit code {proc.returncode})"
        )
    return ShelxdRun(tries, atoms, timed_out, seconds, proc.returncode)
