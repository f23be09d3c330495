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


#: Bundled entries of the shared test store: dipeptides of four entries (a few hundred
#: examples, every split non-empty), small enough to build once per test worker.
STORE_ENTRIES = ("1A8O", "3JQH", "4ZHL", "4CUP")
STORE_VARIANT = "dipeptide@2"


@pytest.fixture(scope="session")
def store_examples(entries):
    """The examples of the shared store, generated in memory (curated like the build)."""
    exs = []
    for pid in STORE_ENTRIES:
        exs += list(crysbench.generate_examples(entries[pid], STORE_VARIANT, curate=True))
    return exs


@pytest.fixture(scope="session")
def store_path(tmp_path_factory, entries):
    """The one store of the suite: ``STORE_VARIANT`` built from ``STORE_ENTRIES``.

    Read-only: a test that damages or rewrites a store builds or copies its own.
    """
    out = str(tmp_path_factory.mktemp("shared-store") / "dipeptide.zarr")
    crysbench.build_store(
        STORE_VARIANT, out=out, entries={k: entries[k] for k in STORE_ENTRIES}, progress=False
    )
    return out


@pytest.fixture(scope="session")
def memory_store(store_examples):
    """A :class:`crysbench.MemoryStore` of the same examples as ``store_path``."""
    return crysbench.MemoryStore.from_examples(store_examples, STORE_VARIANT)
