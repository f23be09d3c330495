"""Reliability of the RCSB client against a hostile local HTTP server (127.0.0.1 only).

Dropped connections mid-body, a server that drips bytes, an HTML error page served as
``.pdb.gz``: each is retried or refused with the entry named, nothing bad is cached, and
the other entries still download.
"""

import gzip
import http.server
import json
import threading
import time
from pathlib import Path

import pytest

from crysbench.rcsb import DownloadError, RcsbClient, resolve

HTML = gzip.compress(b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>")


class _Hostile(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hits: dict = {}
    good = b""
    search_ids: list = []

    def log_message(self, *args):
        pass

    def _headers(self, n):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(n))
        self.end_headers()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        ids = [{"identifier": f"{i}_1"} for i in type(self).search_ids]
        body = json.dumps({"result_set": ids, "group_count": len(ids)}).encode()
        self._headers(len(body))
        self.wfile.write(body)

    def do_GET(self):
        name = self.path.rsplit("/", 1)[-1]
        pid = name.split(".")[0]
        n = type(self).hits[name] = type(self).hits.get(name, 0) + 1
        good = type(self).good
        if not name.endswith(".pdb.gz"):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if pid in ("DRP1", "DRPX") and (pid == "DRPX" or n == 1):
            self._headers(len(good))  # promise everything, send half, hang up
            self.wfile.write(good[: len(good) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if pid == "DRIP":
            self._headers(len(good))
            try:
                for i in range(0, len(good), 64):
                    self.wfile.write(good[i : i + 64])
                    self.wfile.flush()
                    time.sleep(0.05)
            except OSError:  # the client gave up
                pass
            return
        body = HTML if pid == "HTML" else good
        self._headers(len(body))
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server(entries):
    _Hostile.good = Path(entries["1A8O"]).read_bytes()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _client(server, tmp_path, **kw):
    kw = {"retries": 3, "backoff": 0.01, "timeout": 0.5, "deadline": 5.0, **kw}
    return RcsbClient(tmp_path, search_url=f"{server}/s", files_url=f"{server}/d", **kw)


def test_connection_dropped_mid_download_is_retried(server, tmp_path):
    p = _client(server, tmp_path).download("DRP1")
    assert _Hostile.hits["DRP1.pdb.gz"] == 2
    assert p.read_bytes() == _Hostile.good


def test_connection_always_dropped_names_the_entry(server, tmp_path):
    with pytest.raises(
        DownloadError, match=r"DRPX: .*failed after 3 attempts \(connection dropped"
    ) as exc:
        _client(server, tmp_path).download("DRPX")
    assert exc.value.pdb_id == "DRPX" and "connection dropped" in exc.value.reason
    assert not list(tmp_path.glob("DRPX*"))  # nothing half-written is kept


def test_slow_drip_hits_the_total_deadline(server, tmp_path):
    t0 = time.monotonic()
    with pytest.raises(DownloadError, match=r"DRIP: .*0\.4 s deadline"):
        _client(server, tmp_path, deadline=0.4).download("DRIP")
    assert time.monotonic() - t0 < 3.0  # every read arrived in time, the whole did not
    assert not list(tmp_path.glob("DRIP*"))


def test_html_error_page_is_not_cached(server, tmp_path):
    with pytest.raises(DownloadError, match=r"HTML: .*HTML or JSON error page"):
        _client(server, tmp_path).download("HTML")
    assert not list(tmp_path.glob("HTML*"))
    # an error page cached by an older crysbench is not taken for the entry
    (tmp_path / "1A8O.pdb.gz").write_bytes(HTML)
    c = _client(server, tmp_path)
    assert c.cached("1A8O") is None
    assert c.download("1A8O").read_bytes() == _Hostile.good


def test_failed_entries_are_recorded_and_the_others_go_on(server, tmp_path):
    _Hostile.search_ids = ["1A8O", "DRPX", "HTML", "4E43"]
    failed: dict = {}
    ok = resolve(
        "rcsb", tmp_path, failed=failed, search_url=f"{server}/s", files_url=f"{server}/d",
        retries=2, backoff=0.01, timeout=0.5, deadline=5.0,
    )  # fmt: skip
    assert set(ok) == {"1A8O", "4E43"}
    assert set(failed) == {"DRPX", "HTML"}
    assert failed["DRPX"].startswith("DRPX: ") and "connection dropped" in failed["DRPX"]
    assert "error page" in failed["HTML"]


def test_bad_pdb_id_is_refused_before_any_request(server, tmp_path):
    with pytest.raises(DownloadError, match="not a PDB id"):
        _client(server, tmp_path).download("../../etc")
