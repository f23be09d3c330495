"""The RCSB client against a local HTTP server serving recorded responses."""

import http.server
import json
import threading
import time
from pathlib import Path

import pytest

from crysbench.rcsb import DownloadError, RcsbClient, curation_query, paper_reproduction

DATA = Path(__file__).parent / "data" / "rcsb"


class _Handler(http.server.BaseHTTPRequestHandler):
    hits: dict = {}
    entries: dict = {}

    def log_message(self, *args):  # keep test output clean
        pass

    def _send(self, code, body=b"", ctype="application/octet-stream"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        query = json.loads(self.rfile.read(n))
        type(self).hits["search"] = query
        self._send(200, (DATA / "search_response.json").read_bytes(), "application/json")

    def do_GET(self):
        name = self.path.rsplit("/", 1)[-1]
        pid = name.split(".")[0]
        count = type(self).hits[name] = type(self).hits.get(name, 0) + 1
        if pid == "FLKY" and count == 1 or pid == "BUSY":
            return self._send(503)
        if pid == "FLKY":
            pid = "1A8O"
        if pid == "TRNC":
            return self._send(200, self.entries["1A8O"][:500])
        if pid == "SLOW":
            time.sleep(0.6)
            return self._send(200, self.entries["1A8O"])
        if pid == "GONE":
            return self._send(410)
        path = self.entries.get(pid)
        if path is None or not name.endswith(path_suffix(pid)):
            return self._send(404)
        self._send(200, path)


def path_suffix(pid):
    return ".cif.gz" if pid == "3JQH" else ".pdb.gz"


@pytest.fixture(scope="module")
def server(entries):
    _Handler.entries = {k: Path(entries[k]).read_bytes() for k in ("1A8O", "3JQH", "4E43")}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def client(server, tmp_path, **kw):
    kw = {"retries": 3, "backoff": 0.01, "timeout": 0.3, **kw}
    return RcsbClient(tmp_path, search_url=f"{server}/search", files_url=f"{server}/download", **kw)


def test_search_sends_curation_query(server, tmp_path):
    ids = client(server, tmp_path).search()
    assert ids == ["1A8O", "3JQH", "4E43"]
    sent = _Handler.hits["search"]
    assert sent == curation_query(10000, 0)
    attrs = {n["parameters"]["attribute"]: n["parameters"]["value"] for n in sent["query"]["nodes"]}
    assert attrs["rcsb_entry_info.resolution_combined"] == 2.75
    assert attrs["refine.ls_R_factor_R_free"] == 0.28


def test_download_cache_and_cif_fallback(server, tmp_path):
    c = client(server, tmp_path)
    p = c.download("1a8o")
    assert p.name == "1A8O.pdb.gz" and p.read_bytes() == _Handler.entries["1A8O"]
    before = _Handler.hits.get("1A8O.pdb.gz")
    assert c.download("1A8O") == p  # served from the cache
    assert _Handler.hits.get("1A8O.pdb.gz") == before
    assert c.download("3JQH").name == "3JQH.cif.gz"


def test_retry_after_server_error(server, tmp_path):
    p = client(server, tmp_path).download("FLKY")
    assert p.exists() and _Handler.hits["FLKY.pdb.gz"] == 2


def test_server_error_every_time_names_the_attempts(server, tmp_path):
    with pytest.raises(DownloadError, match=r"BUSY: .*failed after 3 attempts \(HTTP 503\)"):
        client(server, tmp_path).download("BUSY")
    assert _Handler.hits["BUSY.pdb.gz"] == 3


def test_truncated_download_is_an_error(server, tmp_path):
    with pytest.raises(DownloadError, match="truncated"):
        client(server, tmp_path).download("TRNC")
    assert not list(tmp_path.glob("TRNC*"))  # nothing half-written is kept


def test_timeout_and_client_errors(server, tmp_path):
    with pytest.raises(DownloadError, match=r"failed after 2 attempts \(timed out"):
        client(server, tmp_path, retries=2, timeout=0.2).download("SLOW")
    assert _Handler.hits["SLOW.pdb.gz"] == 2  # urllib3's Retry: 2 attempts in all, not 2 x 2
    with pytest.raises(DownloadError, match="HTTP 410"):
        client(server, tmp_path).download("GONE")
    with pytest.raises(DownloadError, match="not found"):
        client(server, tmp_path).download("9ZZZ")


def test_download_many_reports_failures(server, tmp_path):
    res = client(server, tmp_path).download_many(["1A8O", "TRNC"], progress=False)
    assert set(res["ok"]) == {"1A8O"} and "TRNC" in res["failed"]


def test_build_from_downloaded_mirror(server, tmp_path):
    from crysbench.build import build_store
    from crysbench.sources import local_entries
    from crysbench.store import open_store

    c = client(server, tmp_path / "cache")
    c.download_many(c.search(), progress=False)
    out = str(tmp_path / "s.zarr")
    build_store("const-res", out=out, entries=local_entries(tmp_path / "cache"), progress=False)
    assert any(i.startswith("3JQH") for i in open_store(out).ids())


def test_paper_reproduction_counts():
    ids = [f"3HSY_1.pd_{n}" for n in (11, 21, 41)] + ["3HSY_1.pd_1"]
    rep = paper_reproduction(ids, [["3HSY_1.pd_61", "intermolecular clash", "cell"]], ["3HSY"])
    assert rep["paper_ids"] == 28 and rep["reproduced"] == 3
    assert rep["missing"]["3HSY_1.pd_61"] == "intermolecular clash"
    assert rep["missing"]["3HSY_1.pd_51"] == "not produced"
    assert rep["extra"] == ["3HSY_1.pd_1"]
