"""Moved to :mod:`crysbench.cli.plots`; this name stays importable."""

from crysbench.cli.plots import plot_shells, shell_centres_d

__all__ = ["plot_shells", "shell_centres_d"]
