"""The paper's const-res set as a reference: its example ids and PDB ids, and how many
of them a build reproduced (SPEC §3.1).

Examples
--------
>>> ids = paper_example_ids()
>>> len(ids), len(paper_pdb_ids()) < len(ids)
(387171, True)
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from importlib import resources

__all__ = ["paper_example_ids", "paper_pdb_ids", "paper_reproduction"]


def paper_example_ids() -> list[str]:
    """The 387,171 example ids of the paper's const-res set (bundled reference list)."""
    ref = resources.files("crysbench") / "data" / "reference"
    with (ref / "reccrysformer-const-res-example-ids.txt.gz").open("rb") as raw:
        return gzip.decompress(raw.read()).decode().split()


def paper_pdb_ids() -> list[str]:
    """PDB ids of the paper's const-res set, sorted."""
    return sorted({i.split("_")[0] for i in paper_example_ids()})


def paper_reproduction(store_ids: Iterable[str], rejections: list, pdb_ids: Iterable[str]) -> dict:
    """How many of the paper's example ids (of the given entries) a build reproduced.

    Returns counts and, for every missing id, why it is missing: the build's rejection
    reason for that id or entry, or "not produced".
    """
    wanted = set(pdb_ids)
    paper = [i for i in paper_example_ids() if i.split("_")[0] in wanted]
    have = set(store_ids)
    why = {r[0]: r[1] for r in rejections}
    missing = {
        i: why.get(i) or why.get(i.split("_")[0]) or "not produced" for i in paper if i not in have
    }
    return {
        "paper_ids": len(paper),
        "reproduced": len(paper) - len(missing),
        "missing": missing,
        "extra": sorted(have - set(paper)),
    }
