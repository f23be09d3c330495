"""PNG plots of evaluation results: phase error and fraction < 60° by resolution shell.

matplotlib is imported lazily with the non-interactive Agg backend.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

__all__ = ["plot_shells", "shell_centres_d"]


def shell_centres_d(edges: list[float]) -> np.ndarray:
    """Resolution (Å) at the centre of each shell in 1/d³ (equal-volume centre)."""
    e = np.asarray(edges, dtype=np.float64)
    s3 = 0.5 * (e[:-1] ** 1.5 + e[1:] ** 1.5)
    return np.array([1.0 / s ** (1 / 3) if s > 0 else math.inf for s in s3])


def plot_shells(results: dict, prefix: str | Path) -> list[Path]:
    """Write ``<prefix>_phase_error.png`` and ``<prefix>_fraction_below_60.png``.

    Parameters
    ----------
    results : dict
        As returned by :func:`crysbench.evaluate`.
    prefix : str or Path
        Output path without suffix.

    Returns
    -------
    list of Path
        The files written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    prefix = Path(prefix)
    a = results["aggregate"]
    d = shell_centres_d(results["shell_edges"])
    x = np.arange(len(d))
    labels = [f"{v:.2f}" for v in d]
    title = f"{results.get('variant', '')} {results.get('split', '')} (n={a['n_examples']})"
    out = []
    for key, ylabel, fname, ylim in (
        ("phase_error_by_shell", "mean phase error (°)", "phase_error", (0, 100)),
        ("fraction_below_60_by_shell", "fraction of examples < 60°", "fraction_below_60", (0, 1)),
    ):
        y = np.array([np.nan if v is None else v for v in a[key]], dtype=float)
        fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
        ax.plot(x, y, "o-", color="C0")
        if key == "phase_error_by_shell":
            ax.axhline(60, color="0.6", lw=0.8, ls="--")
            ax.axhline(90, color="0.8", lw=0.8, ls=":")
        ax.set_xticks(x)
        ax.set_xticklabels(labels, rotation=45, fontsize=7)
        ax.set_xlabel("shell centre d (Å)")
        ax.set_ylabel(ylabel)
        ax.set_ylim(*ylim)
        ax.set_title(title, fontsize=9)
        fig.tight_layout()
        path = prefix.parent / f"{prefix.name}_{fname}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
        plt.close(fig)
        out.append(path)
    return out
