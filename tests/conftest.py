"""Shared fixtures: the bundled real PDB entries and a few generated examples."""

from __future__ import annotations

import pytest

import crysbench
from crysbench.structures import bundled_entries


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Builds cache their entries under a temporary folder, never the user's ~/.cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("CRYSBENCH_CACHE", str(tmp_path_factory.mktemp("crysbench-cache")))
    yield
    mp.undo()


@pytest.fixture(scope="session")
def entries():
    """Bundled entry paths by PDB id."""
    return bundled_entries()


@pytest.fixture(scope="session")
def const_res_examples(entries):
    """A handful of const-res examples from 1A8O (MSE entry)."""
    return list(crysbench.generate_examples(entries["1A8O"], "const-res"))


@pytest.fixture(scope="session")
def var_res_examples(entries):
    """var-res examples from 1A8O: coarse grids, random dmin."""
    return list(crysbench.generate_examples(entries["1A8O"], "var-res"))
