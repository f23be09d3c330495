"""RCSB PDB client: curated search and cached, resumable downloads. (io)

The only network code of crysbench. Base URLs are configurable (environment
variables ``CRYSBENCH_RCSB_SEARCH`` and ``CRYSBENCH_RCSB_FILES``, or arguments), so
tests run against a local HTTP server with recorded responses.

The search query is :mod:`crysbench.rcsb_query`, the paper's reference set
:mod:`crysbench.paper` (both importable from here too).

Examples
--------
>>> from crysbench.rcsb import curation_query
>>> q = curation_query()
>>> q["request_options"]["group_by"]["similarity_cutoff"]
30
"""

from __future__ import annotations

import gzip
import http.client
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import requests
import requests.adapters
import urllib3
from urllib3.util.retry import Retry

from crysbench.paper import paper_example_ids, paper_pdb_ids, paper_reproduction
from crysbench.rcsb_query import curation_query

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
    """One entry (or the search) that failed after all retries.

    The build records it as that entry's rejection and goes on with the others
    (:meth:`RcsbClient.download_many`, :func:`resolve`).

    Attributes
    ----------
    pdb_id : str or None
        The entry (None for the search).
    url : str
    reason : str
        Why, in words: ``"HTTP 410 Gone"``, ``"connection dropped mid-download
        (ChunkedEncodingError) after 3 attempts"``, ``"not a PDB/mmCIF file (an HTML or
        JSON error page) after 3 attempts"``, a deadline, …
    """

    def __init__(self, message: str, pdb_id: str | None = None, url: str = "", reason: str = ""):
        super().__init__(message)
        self.pdb_id = pdb_id
        self.url = url
        self.reason = reason or message


#: Transport errors that are retried: dropped connections (``ChunkedEncodingError``,
#: ``ConnectionError``), timeouts, undecodable bodies, and socket/HTTP protocol errors.
_TRANSPORT = (
    requests.RequestException, urllib3.exceptions.HTTPError, http.client.HTTPException, OSError
)  # fmt: skip


class _Deadline(Exception):
    """The total time of one download ran out."""


class RcsbClient:
    """Search and download with an on-disk cache, retries, backoff and a deadline.

    Every transport error is retried with exponential backoff. Up to the response headers
    (HTTP 5xx/429, refused connections, timeouts) that is urllib3's ``Retry`` on the
    session's adapter; it cannot see what follows the headers, so a body cut off
    mid-transfer, or one that is not a PDB/mmCIF file (an HTML error page), is retried
    here, with the body read in pieces against the total ``deadline``. A file is cached
    only when it is a complete gzip holding a PDB or mmCIF file, written under a
    temporary name and renamed.

    Parameters
    ----------
    cache_dir : str or Path
        Downloaded files are kept here (``<ID>.pdb.gz`` / ``<ID>.cif.gz``); a cached,
        intact file is never downloaded again, so an interrupted run resumes.
    search_url, files_url : str, optional
        Base URLs (defaults: RCSB, or the ``CRYSBENCH_RCSB_*`` environment variables).
    retries : int
        Attempts per request.
    backoff : float
        First wait in seconds, doubled after every failed attempt.
    timeout : float
        Seconds to connect and between two reads.
    deadline : float
        Total seconds per download, all attempts included (a server that drips bytes
        slowly cannot stall the build); the retries up to the headers each wait at most
        ``timeout``.
    """

    def __init__(
        self,
        cache_dir: str | Path,
        search_url: str | None = None,
        files_url: str | None = None,
        retries: int = 4,
        backoff: float = 1.0,
        timeout: float = 30.0,
        deadline: float = 300.0,
    ):
        self.cache_dir = Path(cache_dir)
        self.search_url = search_url or os.environ.get("CRYSBENCH_RCSB_SEARCH", SEARCH_URL)
        self.files_url = (files_url or os.environ.get("CRYSBENCH_RCSB_FILES", FILES_URL)).rstrip(
            "/"
        )
        if retries < 1:
            raise ValueError(f"retries must be at least 1, got {retries}")
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.deadline = deadline
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "crysbench (https://github.com/crysbench)"
        adapter = requests.adapters.HTTPAdapter(max_retries=self._retry())
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def _retry(self) -> Retry:
        """Retries up to the response headers: connection errors, timeouts, 429 and 5xx.

        The first retry is immediate, then the waits are ``backoff``, ``2 * backoff``, …
        (urllib3's ``backoff_factor * 2 ** (n - 1)``), never longer than the deadline. POST
        is retried too: the only one is the search query, which changes nothing.
        """
        return Retry(
            total=self.retries - 1, backoff_factor=self.backoff / 2,
            backoff_max=self.deadline, status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=None, raise_on_status=False, raise_on_redirect=False,
            respect_retry_after_header=False,
        )  # fmt: skip

    def _fetch(
        self, method: str, url: str, pdb_id: str | None = None, check=None, **kw
    ) -> tuple[int, bytes]:
        """(status, body) of a request, retried; ``check(body)`` returns a reason to retry."""
        t_end = time.monotonic() + self.deadline
        who = f"{pdb_id}: " if pdb_id else ""
        wait, last = self.backoff, ""
        for attempt in range(self.retries):  # retries after the headers; Retry: before
            try:
                status, body = self._once(method, url, t_end, **kw)
                if status in (404, 204):
                    return status, b""
                if status == 429 or status >= 500:  # Retry's attempts are spent
                    last, attempt = f"HTTP {status}", self.retries - 1
                    break
                elif status >= 400:
                    reason = f"HTTP {status} {http.client.responses.get(status, '')}".strip()
                    raise DownloadError(f"{who}{url}: {reason}", pdb_id, url, reason)
                else:
                    why = check(body) if check else None
                    if why is None:
                        return status, body
                    last = why
            except _Deadline:
                reason = f"took longer than the {self.deadline:g} s deadline (a stalled server)"
                raise DownloadError(f"{who}{url}: {reason}", pdb_id, url, reason) from None
            except DownloadError:
                raise
            except _TRANSPORT as exc:
                last = _describe(exc)
                if _exhausted(exc):  # Retry gave up before any header came
                    attempt = self.retries - 1
                    break
            if attempt < self.retries - 1:
                if time.monotonic() + wait > t_end:
                    break
                time.sleep(wait)
                wait *= 2
        reason = f"{last} after {attempt + 1} attempts"
        raise DownloadError(f"{who}{url}: failed after {attempt + 1} attempts ({last})", pdb_id,
                            url, reason)  # fmt: skip

    def _once(self, method: str, url: str, t_end: float, **kw) -> tuple[int, bytes]:
        """One attempt, the body read in pieces against the deadline."""

        def left() -> float:
            rest = t_end - time.monotonic()
            if rest <= 0:
                raise _Deadline
            return min(self.timeout, rest)

        with self.session.request(method, url, timeout=left(), stream=True, **kw) as r:
            if r.status_code >= 300 or r.status_code == 204:
                return r.status_code, b""
            parts = []
            while True:  # read1: whatever arrived, so the deadline is checked between reads
                piece = r.raw.read1(1 << 16)
                if not piece:
                    break
                parts.append(piece)
                left()
            body = b"".join(parts)
            expected = r.headers.get("Content-Length")
            if expected is not None and expected.isdigit() and int(expected) != len(body):
                raise requests.exceptions.ChunkedEncodingError(
                    f"body cut off at {len(body)} of {expected} bytes"
                )
            return r.status_code, body

    def search(self, page_rows: int = 10000) -> list[str]:
        """PDB ids of the curated, 30 %-clustered representatives (all pages)."""
        import json

        ids: list[str] = []
        start = 0
        while True:
            status, body = self._fetch(
                "POST", self.search_url, json=curation_query(page_rows, start)
            )
            if status in (204, 404):
                break
            try:
                data = json.loads(body)
            except ValueError:
                raise DownloadError(
                    f"{self.search_url}: the search answered with something that is not JSON "
                    f"({body[:60]!r})", None, self.search_url, "not JSON",
                ) from None  # fmt: skip
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
        """The cached file of an entry, if present and a complete PDB/mmCIF file."""
        for ext in ("pdb.gz", "cif.gz"):
            p = self.cache_dir / f"{pdb_id.upper()}.{ext}"
            if p.exists() and _content_problem(p.read_bytes(), ext) is None:
                return p
        return None

    def download(self, pdb_id: str) -> Path:
        """Download one entry (legacy PDB format first, mmCIF when none exists).

        Raises
        ------
        DownloadError
            Naming the entry, the URL and the reason; nothing is cached then.
        """
        pid = pdb_id.upper()
        if not pid.isalnum() or len(pid) != 4:
            raise DownloadError(f"{pdb_id!r} is not a PDB id (4 letters or digits)", pdb_id)
        hit = self.cached(pid)
        if hit is not None:
            return hit
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        for ext in ("pdb.gz", "cif.gz"):
            url = f"{self.files_url}/{pid}.{ext}"
            status, body = self._fetch(
                "GET", url, pid, check=lambda b, e=ext: _content_problem(b, e)
            )
            if status == 404:
                continue
            out = self.cache_dir / f"{pid}.{ext}"
            tmp = out.with_name(out.name + ".part")
            tmp.write_bytes(body)
            os.replace(tmp, out)
            return out
        raise DownloadError(
            f"{pid}: not found at {self.files_url} (neither .pdb.gz nor .cif.gz)", pid,
            self.files_url, "not found",
        )  # fmt: skip

    def download_many(self, pdb_ids: Iterable[str], progress: bool = True) -> dict:
        """Download entries; a failed one is recorded and the others go on.

        Returns
        -------
        dict
            ``{"ok": {pdb_id: path}, "failed": {pdb_id: message}}``.
        """
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


def _exhausted(exc: BaseException) -> bool:
    """Whether ``exc`` is urllib3's ``Retry`` giving up (a ``MaxRetryError`` inside)."""
    return any(isinstance(a, urllib3.exceptions.MaxRetryError) for a in getattr(exc, "args", ()))


def _describe(exc: BaseException) -> str:
    """A transport error in words, with its type (the last cause, after retries)."""
    inner = next(
        (
            a.reason
            for a in getattr(exc, "args", ())
            if isinstance(a, urllib3.exceptions.MaxRetryError)
        ),
        None,
    )
    if inner is not None:
        exc = inner
    name = type(exc).__name__
    if isinstance(exc, requests.exceptions.ChunkedEncodingError | urllib3.exceptions.ProtocolError):
        return f"connection dropped mid-download ({name})"
    if isinstance(exc, requests.Timeout | urllib3.exceptions.TimeoutError):
        return f"timed out ({name})"
    if isinstance(exc, requests.ConnectionError):
        return f"connection failed ({name})"
    return f"{name}: {exc}"


_PDB_RECORDS = (
    b"HEADER", b"OBSLTE", b"TITLE ", b"SPLIT ", b"CAVEAT", b"COMPND", b"SOURCE", b"KEYWDS",
    b"EXPDTA", b"AUTHOR", b"REMARK", b"CRYST1", b"ATOM  ", b"HETATM", b"MODEL ", b"SEQRES",
)  # fmt: skip


def _content_problem(data: bytes, ext: str) -> str | None:
    """None when ``data`` is a complete gzip of a PDB (``pdb.gz``) or mmCIF file, else why."""
    try:
        text = gzip.decompress(data)
    except (OSError, EOFError, ValueError):
        return "truncated or corrupt gzip"
    head = text[:4096].lstrip()
    if head[:200].lower().lstrip().startswith((b"<!doctype", b"<html", b"<?xml", b"{")):
        return "not a PDB/mmCIF file (an HTML or JSON error page)"
    if ext.startswith("cif"):
        body = b"\n".join(x for x in head.splitlines() if not x.startswith(b"#"))
        if not body.lstrip().startswith(b"data_"):
            return "not an mmCIF file (no data_ block)"
        if b"_atom_site." not in text:
            return "an mmCIF file without atoms (_atom_site)"
        return None
    if not head.startswith(_PDB_RECORDS):
        return "not a PDB file (no HEADER/REMARK/ATOM records)"
    if b"\nATOM  " not in text and b"\nHETATM" not in text and not text.startswith(b"ATOM"):
        return "a PDB file without atoms"
    return None


def resolve(
    source: str,
    cache_dir: str | Path | None = None,
    failed: dict[str, str] | None = None,
    **kw,
) -> dict[str, Path]:
    """Entries of the ``rcsb`` or ``paper`` source, downloaded into the cache.

    Parameters
    ----------
    source : str
        ``"rcsb"`` or ``"paper"``.
    cache_dir : path, optional
        Download cache (default ``~/.cache/crysbench/pdb``).
    failed : dict, optional
        Filled with ``{pdb_id: message}`` for every entry that could not be downloaded
        (the build records them as rejections at stage ``"download"``); the others are
        returned.
    **kw
        :class:`RcsbClient` options (``retries``, ``timeout``, ``deadline``, URLs).
    """
    cache = Path(cache_dir or Path.home() / ".cache" / "crysbench" / "pdb")
    client = RcsbClient(cache, **kw)
    ids = client.search() if source == "rcsb" else paper_pdb_ids()
    result = client.download_many(ids)
    if failed is not None:
        failed.update(result["failed"])
    if result["failed"]:
        n = len(result["failed"])
        first = next(iter(result["failed"].values()))
        print(
            f"crysbench: {n} entries could not be downloaded and are left out (first: {first})",
            file=sys.stderr,
        )
    return result["ok"]
