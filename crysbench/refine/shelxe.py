"""Driving a real SHELXE binary for the refinement rate (paper protocol, SPEC §6).

Per example, in a temporary directory: ``name.hkl`` (true amplitudes, ``-f`` mode),
``name.ins`` (cell, P1, composition) and ``name.phi`` (the prediction's phases, FOM 0.5 as in
the paper's pipeline), then ``shelxe name.phi -a4 -m10 -s0.8 -f``: 4 global autotracing
cycles × 10 density-modification rounds. Success: best CC of the poly-Ala trace against the
native data > 25 % (the rate at 20 % is reported too, ``refined_cc20``).

An engine error (binary missing or expired, crash, timeout) gives ``refined = None`` with the
reason in ``engine_error``: it is not counted as a failure.

Examples
--------
>>> from crysbench.refine.shelxe import parse_listing
>>> parse_listing("CC for partial structure against native data =  31.25 %")["cc"]
31.25
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "ShelxeEngine",
    "format_hkl",
    "format_ins",
    "parse_listing",
    "write_hkl",
    "write_ins",
    "write_phi",
    "SUCCESS_CC",
]

#: Paper / common SHELXE success threshold on the trace CC (percent).
SUCCESS_CC = 25.0

_CC_RE = re.compile(r"CC for partial structure against native data =\s*(-?\d+\.\d+)\s*%")
_BEST_RE = re.compile(r"Best trace \(cycle\s+(\d+)\s+with CC\s+(-?[\d.]+)%\)")
_VERSION_RE = re.compile(r"SHELXE\s*-.*Version\s+(\S+)")
_SFAC = ("C", "N", "O", "S", "SE")


def parse_listing(text: str) -> dict:
    """Parse SHELXE stdout / ``.lst`` text.

    Returns
    -------
    dict
        ``cc`` (best trace CC in percent, or None), ``best_cycle``, ``version``,
        ``expired`` (bool), ``untraceable`` (bool), ``gave_up`` (bool).
    """
    ccs = [float(x) for x in _CC_RE.findall(text)]
    best = _BEST_RE.findall(text)
    cc = max(ccs) if ccs else None
    if best:
        cc_best = float(best[-1][1])
        cc = cc_best if cc is None else max(cc, cc_best)
    version = _VERSION_RE.search(text)
    return {
        "cc": cc,
        "best_cycle": int(best[-1][0]) if best else None,
        "version": version.group(1) if version else None,
        "expired": "version has expired" in text,
        "untraceable": "Unable to trace map" in text,
        "gave_up": "CC is less than zero - giving up" in text,
    }


def _scale(values: np.ndarray, limit: float) -> float:
    top = float(np.max(values)) if len(values) else 1.0
    return limit / top if top > 0 else 1.0


def format_hkl(hkl: np.ndarray, amplitudes: np.ndarray, limit: float = 9999.0) -> str:
    """SHELX ``HKLF 3`` text: ``(3I4,2F8.2)`` records of F and σ(F), then ``0 0 0``.

    The one ``.hkl`` writer of the package (SHELXE here, SHELXD in ``baselines/shelxd``).
    Amplitudes are scaled so that the largest is ``limit`` (fits ``F8.2``); noise-free data
    need a positive σ: ``σ = max(0.01·F, 0.01·median F, 0.01)``.

    Examples
    --------
    >>> print(format_hkl(np.array([[1, -2, 3]]), np.array([20.0])), end="")
       1  -2   3 9999.00   99.99
       0   0   0    0.00    0.00
    """
    hkl = np.asarray(hkl, dtype=np.int64).reshape(-1, 3)
    f = np.abs(np.asarray(amplitudes, dtype=np.float64))
    f = f * _scale(f, limit)
    floor = 0.01 * float(np.median(f)) if len(f) else 0.01
    sig = np.maximum(np.maximum(0.01 * f, floor), 0.01)
    out = [
        f"{h:4d}{k:4d}{l:4d}{v:8.2f}{s:8.2f}\n"
        for (h, k, l), v, s in zip(hkl.tolist(), f.tolist(), sig.tolist(), strict=True)
    ]
    out.append(f"{0:4d}{0:4d}{0:4d}{0.0:8.2f}{0.0:8.2f}\n")
    return "".join(out)


def _counts(composition: Mapping[str, float] | Iterable[str]) -> dict[str, int]:
    if isinstance(composition, Mapping):
        items = composition.items()
    else:
        items = Counter(str(e).strip() for e in composition).items()
    counts: Counter = Counter()
    for e, n in items:
        if str(e).strip().upper() not in ("H", "D") and round(float(n)) > 0:
            counts[str(e).strip().capitalize()] += int(round(float(n)))
    return dict(counts)


def format_ins(
    title: str,
    cell: Any,
    composition: Mapping[str, float] | Iterable[str],
    instructions: Sequence[str] = (),
    wavelength: float = 1.54178,
) -> str:
    """SHELX ``.ins`` text for P1: TITL, CELL, ZERR, LATT -1, SFAC, UNIT, then ``instructions``.

    The one ``.ins`` writer of the package. ``composition`` is a mapping element → count or
    a sequence of element symbols (hydrogens dropped); SFAC lists C, N, O, S, Se first. The
    caller's ``instructions`` (e.g. SHELXD's ``FIND``/``PLOP``/``NTRY``/``HKLF 3``) come
    before ``END``.

    Examples
    --------
    >>> import gemmi
    >>> text = format_ins("t", gemmi.UnitCell(20, 21, 22, 90, 90, 90), ["C", "C", "N", "O", "H"])
    >>> text.splitlines()[4:6]
    ['SFAC C N O', 'UNIT 2 1 1']
    """
    counts = _counts(composition)
    usual = [e.capitalize() for e in _SFAC]
    sfac = sorted(counts, key=lambda e: (usual.index(e) if e in usual else len(usual), e))
    if not sfac:
        sfac, counts = ["C"], {"C": 0}
    par = (cell.a, cell.b, cell.c, cell.alpha, cell.beta, cell.gamma)
    lines = [
        f"TITL {title[:70]} in P1",
        f"CELL {wavelength:.5f} " + " ".join(f"{x:.4f}" for x in par[:3])
        + " " + " ".join(f"{x:.3f}" for x in par[3:]),
        "ZERR 1 0.001 0.001 0.001 0.010 0.010 0.010",
        "LATT -1",
        "SFAC " + " ".join(sfac),
        "UNIT " + " ".join(str(counts[e]) for e in sfac),
        *instructions,
        "END",
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


def write_hkl(path: Path, hkl: np.ndarray, f_obs: np.ndarray) -> None:
    """Write :func:`format_hkl` (maximum F scaled to 9999) to ``path``."""
    Path(path).write_text(format_hkl(hkl, f_obs))


def write_ins(path: Path, cell: Any, elements) -> None:
    """Write the minimal P1 :func:`format_ins` (no instructions) to ``path``."""
    Path(path).write_text(format_ins("crysbench", cell, elements))


def write_phi(path: Path, hkl: np.ndarray, F_pred: np.ndarray, fom: float = 0.5) -> None:
    """Starting phases, ``(3I4,F9.2,F8.2,F8.1,F9.2)``: h k l F FOM φ(°) σ(F)."""
    amp = np.abs(F_pred)
    amp = amp * _scale(amp, 9999.0)
    phi = np.degrees(np.angle(F_pred))
    with open(path, "w") as fh:
        for (h, k, l), a, p in zip(hkl.tolist(), amp.tolist(), phi.tolist()):
            fh.write(f"{h:4d}{k:4d}{l:4d}{a:9.2f}{fom:8.2f}{p:8.1f}{1.0:9.2f}\n")


class ShelxeEngine:
    """The ``shelxe`` engine (needs a SHELXE binary; paper settings by default).

    Parameters
    ----------
    executable : str
        Name or path of the binary (looked up on PATH).
    cycles, dm_rounds : int
        ``-a`` global autotracing cycles and ``-m`` DM rounds per cycle.
    solvent : float
        ``-s`` solvent fraction.
    success_cc : float
        Trace CC threshold in percent (success when CC > threshold).
    timeout_s : float
        Per-example wall-clock limit.
    extra_args : tuple of str
        More SHELXE flags.
    """

    name = "shelxe"
    version = 1

    def __init__(
        self,
        executable: str = "shelxe",
        cycles: int = 4,
        dm_rounds: int = 10,
        solvent: float = 0.8,
        success_cc: float = SUCCESS_CC,
        timeout_s: float = 600.0,
        extra_args: tuple[str, ...] = (),
        fom: float = 0.5,
    ):
        self.executable = executable
        self.cycles = int(cycles)
        self.dm_rounds = int(dm_rounds)
        self.solvent = float(solvent)
        self.success_cc = float(success_cc)
        self.timeout_s = float(timeout_s)
        self.extra_args = tuple(extra_args)
        self.fom = float(fom)

    @property
    def args(self) -> list[str]:
        """Command-line flags after ``name.phi``."""
        return [
            f"-a{self.cycles}", f"-m{self.dm_rounds}", f"-s{self.solvent:g}", "-f",
            *self.extra_args,
        ]  # fmt: skip

    @property
    def settings(self) -> dict:
        """Settings recorded in results.json (with the resolved binary path)."""
        return {
            "engine_version": self.version,
            "executable": shutil.which(self.executable),
            "args": self.args,
            "success_cc": self.success_cc,
            "fom": self.fom,
            "timeout_s": self.timeout_s,
        }

    def refine(self, example: Any, F_pred: np.ndarray) -> dict:
        """Run SHELXE on one example; ``refined`` is CC > ``success_cc`` (None on error)."""
        exe = shutil.which(self.executable)
        if exe is None:
            return {"refined": None, "engine_error": f"{self.executable} not found on PATH"}
        with tempfile.TemporaryDirectory(prefix="crysbench-shelxe-") as tmp:
            d = Path(tmp)
            write_hkl(d / "name.hkl", example.hkl, np.abs(example.F))
            write_ins(d / "name.ins", example.cell, example.elements)
            write_phi(d / "name.phi", example.hkl, np.asarray(F_pred), self.fom)
            try:
                proc = subprocess.run(
                    [exe, "name.phi", *self.args], cwd=d, capture_output=True, text=True,
                    timeout=self.timeout_s, env=dict(os.environ),
                )  # fmt: skip
            except subprocess.TimeoutExpired:
                return {"refined": None, "engine_error": f"timeout after {self.timeout_s:g} s"}
            except OSError as exc:
                return {"refined": None, "engine_error": f"cannot run {exe}: {exc}"}
            text = proc.stdout
            lst = d / "name.lst"
            if lst.exists():
                text += "\n" + lst.read_text(errors="replace")
        info = parse_listing(text)
        out: dict[str, Any] = {"shelxe_cc": info["cc"], "shelxe_version": info["version"]}
        if info["expired"]:
            return {"refined": None, "engine_error": "shelxe version has expired", **out}
        if info["cc"] is None:
            if info["untraceable"] or info["gave_up"]:
                return {"refined": False, "refined_cc20": False, **out}
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
            return {
                "refined": None,
                "engine_error": f"no trace CC (exit {proc.returncode}): {tail[0][:200]}",
                **out,
            }
        return {
            "refined": bool(info["cc"] > self.success_cc),
            "refined_cc20": bool(info["cc"] > 20.0),
            **out,
        }
