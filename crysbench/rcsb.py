"""RCSB PDB client: curated search and cached, resumable downloads. (io)

The only network code of crysbench. Base URLs are configurable (environment
variables ``CRYSBENCH_RCSB_SEARCH`` and ``CRYSBENCH_RCSB_FILES``, or arguments), so
tests run against a local HTTP server with recorded responses.

Examples
--------
>>> from crysbench.rcsb import curation_query
>>> q = curation_query()
>>> q["request_options"]["group_by"]["similarity_cutoff"]
30
"""

from __future__ import annotations

import gzip
import os
import time
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import requests

__all__ = [
    "DownloadError",
    "RcsbClient",
    "curation_query",
    "paper_example_ids",
    "paper_pdb_ids",
    "paper_reproduction",
    "resolve",
]

SEARCH_URL = "https://search.rcsb.org/rcsbsearch/v2/query"
FILES_URL = "https://files.rcsb.org/download"


class DownloadError(OSError):
    """A download that failed after all retries (the message names the entry and URL)."""


def _attr(attribute: str, operator: str, value) -> dict:
    return {
        "type": "terminal",
        "service": "text",
        "parameters": {"attribute": attribute, "operator": operator, "value": value},
    }


def curation_query(rows: int = 10000, start: int = 0) -> dict:
    """RCSB search query for the paper's curation (SPEC §3.1), one entry per 30 % cluster."""
    return {
        "query": {
            "type": "group",
            "logical_operator": "and",
            "nodes": [
                _attr("exptl.method", "exact_match", "X-RAY DIFFRACTION"),
                _attr("rcsb_accession_info.initial_release_date", "greater", "1995-12-31"),
                _attr("rcsb_entry_info.resolution_combined", "less_or_equal", 2.75),
                _attr("refine.ls_R_factor_R_free", "less_or_equal", 0.28),
                _attr("entity_poly.rcsb_sample_sequence_length", "greater_or_equal", 40),
                _attr("entity_poly.rcsb_entity_polymer_type", "exact_match", "Protein"),
            ],
        },
        "return_type": "polymer_entity",
        "request_options": {
            "group_by": {
                "aggregation_method": "sequence_identity",
                "similarity_cutoff": 30,
                "ranking_criteria_type": {
                    "sort_by": "rcsb_entry_info.resolution_combined",
                    "direction": "asc",
                },
            },
            "group_by_return_type": "representatives",
            "paginate": {"start": start, "rows": rows},
            "results_content_type": ["experimental"],
        },
    }


class RcsbClient:
    """Search and download with an on-disk cache, retries and exponential backoff.

    Parameters
    ----------
    cache_dir : str or Path
        Downloaded files are kept here (``<ID>.pdb.gz`` / ``<ID>.cif.gz``); a cached,
        intact file is never downloaded again, so an interrupted run resumes.
    search_url, files_url : str, optional
        Base URLs (defaults: RCSB, or the ``CRYSBENCH_RCSB_*`` environment variables).
    retries : int
        Attempts per request (HTTP 5xx/429, timeouts, connection errors, truncated files).
    backoff : float
        First wait in seconds, doubled after every failed attempt.
    timeout : float
        Seconds per request.
    """

    def __init__(
        self,
        cache_dir: str | Path,
        search_url: str | None = None,
        files_url: str | None = None,
        retries: int = 4,
        backoff: float = 1.0,
        timeout: float = 30.0,
    ):
        self.cache_dir = Path(cache_dir)
        self.search_url = search_url or os.environ.get("CRYSBENCH_RCSB_SEARCH", SEARCH_URL)
        self.files_url = (files_url or os.environ.get("CRYSBENCH_RCSB_FILES", FILES_URL)).rstrip(
            "/"
        )
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "crysbench (https://github.com/crysbench)"

    def _request(self, method: str, url: str, **kw) -> requests.Response:
        wait = self.backoff
        last = ""
        for attempt in range(self.retries):
            try:
                r = self.session.request(method, url, timeout=self.timeout, **kw)
                if r.status_code == 404:
                    return r
                if r.status_code in (429,) or r.status_code >= 500:
                    last = f"HTTP {r.status_code}"
                elif r.status_code >= 400:
                    raise DownloadError(f"{url}: HTTP {r.status_code} {r.reason}")
                else:
                    return r
            except (requests.Timeout, requests.ConnectionError) as exc:
                last = type(exc).__name__
            if attempt < self.retries - 1:
                time.sleep(wait)
                wait *= 2
        raise DownloadError(f"{url}: failed after {self.retries} attempts ({last})")

    def search(self, page_rows: int = 10000) -> list[str]:
        """PDB ids of the curated, 30 %-clustered representatives (all pages)."""
        ids: list[str] = []
        start = 0
        while True:
            r = self._request("POST", self.search_url, json=curation_query(page_rows, start))
            if r.status_code == 204:
                break
            data = r.json()
            for hit in data.get("result_set", []):
                ident = hit["identifier"] if isinstance(hit, dict) else str(hit)
                pid = ident.split("_")[0].upper()
                if pid not in ids:
                    ids.append(pid)
            start += page_rows
            if start >= int(data.get("group_count", data.get("total_count", 0))):
                break
        return ids

    def cached(self, pdb_id: str) -> Path | None:
        """The cached file of an entry, if present and intact."""
        for ext in ("pdb.gz", "cif.gz"):
            p = self.cache_dir / f"{pdb_id.upper()}.{ext}"
            if p.exists() and _gzip_ok(p):
                return p
        return None

    def download(self, pdb_id: str) -> Path:
        """Download one entry (legacy PDB format first, mmCIF when none exists)."""
        pid = pdb_id.upper()
        hit = self.cached(pid)
        if hit is not None:
            return hit
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        for ext in ("pdb.gz", "cif.gz"):
            url = f"{self.files_url}/{pid}.{ext}"
            for attempt in range(self.retries):
                r = self._request("GET", url)
                if r.status_code == 404:
                    break
                out = self.cache_dir / f"{pid}.{ext}"
                tmp = out.with_name(out.name + ".part")
                tmp.write_bytes(r.content)
                if _gzip_ok(tmp):
                    os.replace(tmp, out)
                    return out
                tmp.unlink(missing_ok=True)
                if attempt == self.retries - 1:
                    raise DownloadError(f"{pid}: truncated or corrupt download from {url}")
                time.sleep(self.backoff * 2**attempt)
        raise DownloadError(f"{pid}: not found at {self.files_url} (neither .pdb.gz nor .cif.gz)")

    def download_many(self, pdb_ids: Iterable[str], progress: bool = True) -> dict:
        """Download entries; returns ``{pdb_id: path}`` and ``{pdb_id: error}``."""
        from tqdm.auto import tqdm

        ok: dict[str, Path] = {}
        failed: dict[str, str] = {}
        ids = list(pdb_ids)
        for pid in tqdm(ids, desc="download", unit="entry", disable=not progress):
            try:
                ok[pid] = self.download(pid)
            except DownloadError as exc:
                failed[pid] = str(exc)
        return {"ok": ok, "failed": failed}


def _gzip_ok(path: Path) -> bool:
    try:
        with gzip.open(path, "rb") as f:
            while f.read(1 << 20):
                pass
        return True
    except (OSError, EOFError):
        return False


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


def resolve(source: str, cache_dir: str | Path | None = None, **kw) -> dict[str, Path]:
    """Entries of the ``rcsb`` or ``paper`` source, downloaded into the cache."""
    cache = Path(cache_dir or Path.home() / ".cache" / "crysbench" / "pdb")
    client = RcsbClient(cache, **kw)
    ids = client.search() if source == "rcsb" else paper_pdb_ids()
    result = client.download_many(ids)
    if result["failed"]:
        n = len(result["failed"])
        first = next(iter(result["failed"].values()))
        print(f"crysbench: {n} entries could not be downloaded (first: {first})")
    return result["ok"]
