"""download.fetch against a real loopback server: retries, resume, caps, HTML pages, Google Drive."""

from __future__ import annotations

import hashlib
import os

import pytest

from zoo import download
from zoo.errors import DownloadError
from zoo.progress import Progress

DATA = os.urandom(300_000)
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture(autouse=True)
def _fast(monkeypatch):
    monkeypatch.setenv("ZOO_RETRY_BACKOFF", "0.01")
    monkeypatch.setenv("ZOO_READ_TIMEOUT", "1")


def get(server, tmp_path, path, size=len(DATA), **kw):
    dest = tmp_path / "out.part"
    digest = download.fetch(download.Fetch(server.url(path), dest, size, **kw), download.session(), Progress())
    return digest, dest


def test_plain_download_hashes_in_one_pass(server, tmp_path):
    server.add("/f", DATA)
    digest, dest = get(server, tmp_path, "/f")
    assert (digest.size, digest.sha256, digest.md5) == (len(DATA), SHA, None)
    assert dest.read_bytes() == DATA
    assert server.requests[0][1]["Accept-Encoding"] == "identity"


def test_md5_is_computed_alongside_when_asked(server, tmp_path):
    server.add("/f", DATA)
    digest, _ = get(server, tmp_path, "/f", md5=True)
    assert digest.md5 == hashlib.md5(DATA).hexdigest() and digest.sha256 == SHA


def test_resumes_with_range_after_a_dropped_connection(server, tmp_path):
    server.add("/f", DATA, "drop", "ok")
    digest, dest = get(server, tmp_path, "/f")
    assert digest.sha256 == SHA and dest.read_bytes() == DATA
    (first, h1), (second, h2) = server.requests
    assert "Range" not in h1 and h2["Range"] == f"bytes={len(DATA) // 2}-"


def test_restarts_when_server_ignores_range(server, tmp_path):
    server.add("/f", DATA, "drop", "norange")
    digest, dest = get(server, tmp_path, "/f")
    assert digest.sha256 == SHA and digest.size == len(DATA) and dest.read_bytes() == DATA


def test_retries_503_then_succeeds(server, tmp_path):
    server.add("/f", DATA, "status:503", "status:429", "ok")
    assert get(server, tmp_path, "/f")[0].sha256 == SHA
    assert len(server.requests) == 3


def test_gives_up_after_retries(server, tmp_path):
    server.add("/f", DATA, "status:503")
    with pytest.raises(DownloadError, match=r"/f: HTTP 503, giving up after 2 retries"):
        get(server, tmp_path, "/f", retries=2)
    assert len(server.requests) == 3


def test_stall_times_out_then_resumes(server, tmp_path):
    server.add("/f", DATA, "stall:3", "ok")
    digest, _ = get(server, tmp_path, "/f")
    assert digest.sha256 == SHA and server.requests[1][1]["Range"] == f"bytes={len(DATA) // 2}-"


def test_404_is_not_retried(server, tmp_path):
    with pytest.raises(DownloadError, match=r"HTTP 404 Not Found from http://127.0.0.1:\d+/missing"):
        get(server, tmp_path, "/missing")
    assert len(server.requests) == 1


def test_redirect_is_followed(server, tmp_path):
    server.add("/f", DATA)
    server.add("/old", b"x", "redirect:/f")
    assert get(server, tmp_path, "/old")[0].sha256 == SHA


def test_stream_past_declared_size_stops_at_size_plus_one(server, tmp_path):
    server.add("/f", DATA, "oversize")
    with pytest.raises(DownloadError, match=f"sent more than the {len(DATA)} bytes expected; stopped"):
        get(server, tmp_path, "/f")
    assert (tmp_path / "out.part").stat().st_size <= len(DATA)


def test_declared_length_over_size_fails_before_reading(server, tmp_path):
    server.add("/f", DATA)
    with pytest.raises(DownloadError, match=f"declares {len(DATA)} bytes but at most 1000 are expected"):
        get(server, tmp_path, "/f", size=1000)


def test_unsized_download_is_capped(server, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_MAX_DOWNLOAD_MB", "0.1")
    server.add("/f", DATA)
    with pytest.raises(DownloadError, match="declares 300000 bytes but at most 104857 are expected"):
        get(server, tmp_path, "/f", size=None)


def test_html_instead_of_file_is_reported(server, tmp_path):
    server.add("/f", DATA, "html")
    with pytest.raises(DownloadError, match=r"/f served an HTML page \(Sign in\) instead of the file"):
        get(server, tmp_path, "/f")
    assert (tmp_path / "out.part").stat().st_size == 0


def test_google_drive_confirmation_page_is_followed(server, tmp_path):
    server.add("/uc", DATA, "gdrive")
    digest, dest = get(server, tmp_path, "/uc", size=None, md5=True)
    assert digest.md5 == hashlib.md5(DATA).hexdigest() and dest.read_bytes() == DATA
    confirmed = server.requests[1][0]
    assert confirmed.startswith("/uc?") and "confirm=t" in confirmed and "uuid=1234-5678" in confirmed


@pytest.mark.parametrize(("header", "expected"), [("7", 7.0), ("-3", 0.0), ("9999", 60.0), ("soon", 0.5)])
def test_retry_after_is_honoured_and_capped(header, expected):
    import requests

    r = requests.Response()
    r.headers["Retry-After"] = header
    assert download._retry_after(r, 0.5) == expected
