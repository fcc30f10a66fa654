"""download.transfer against a real loopback server: retries, resume, caps, HTML pages, Google Drive."""

from __future__ import annotations

import hashlib
import os
import subprocess

import pytest

from zoo import download
from zoo.errors import CacheError, DownloadError
from zoo.progress import Progress

DATA = os.urandom(300_000)
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture(autouse=True)
def _fast(monkeypatch):
    monkeypatch.setenv("ZOO_RETRY_BACKOFF", "0.01")
    monkeypatch.setenv("ZOO_READ_TIMEOUT", "1")


def fresh(tmp_path):
    """The path a download writes: a fresh download creates its file, never writing into an existing one."""
    dest = tmp_path / "out.part"
    dest.unlink(missing_ok=True)
    return dest


def get(server, tmp_path, path, size=len(DATA), **kw):
    dest = fresh(tmp_path)
    digest = download.transfer(download.Fetch(server.url(path), dest, size, **kw), download.session(), Progress())
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


# Hostile servers: every one of these once ended in a traceback, a hang or a leaked credential.

def test_redirect_loop_is_one_error(server, tmp_path):
    server.add("/loop", b"x", "redirect:/loop")
    with pytest.raises(DownloadError, match="/loop redirected more than 10 times"):
        get(server, tmp_path, "/loop")
    assert len(server.requests) == 11


@pytest.mark.parametrize("behaviour", ["redirect:file:///etc/passwd", "gdrive:file:///etc/passwd", "redirect:http://example.invalid/x"])
def test_redirects_and_pages_lead_only_to_https_or_loopback(server, tmp_path, behaviour):
    server.add("/f", DATA, behaviour)
    with pytest.raises(DownloadError, match="refused: only https \\(or http on a loopback address\\) is followed"):
        get(server, tmp_path, "/f", size=None)
    assert len(server.requests) == 1


def test_credentials_never_follow_a_page_or_redirect_to_another_host(server, tmp_path):
    from loopback import Server

    with Server() as other:
        other.add("/stolen", DATA)
        server.add("/uc", DATA, f"gdrive:{other.url('/stolen')}")
        server.add("/moved", DATA, f"redirect:{other.url('/stolen')}")
        for path in ("/uc", "/moved"):
            digest, _ = get(server, tmp_path, path, headers={"authorization": "Bearer hf_secret"})
            assert digest.sha256 == SHA
        assert [h.get("authorization") for _, h in server.requests] == ["Bearer hf_secret"] * 2
        assert [h.get("authorization") for _, h in other.requests] == [None, None]


def test_same_origin_redirect_keeps_credentials(server, tmp_path):
    server.add("/f", DATA)
    server.add("/old", b"x", "redirect:/f")
    get(server, tmp_path, "/old", headers={"authorization": "Bearer t"})
    assert [h.get("authorization") for _, h in server.requests] == ["Bearer t", "Bearer t"]


def test_corrupt_gzip_body_is_one_error_not_retried(server, tmp_path):
    server.add("/f", DATA, "badgzip")
    with pytest.raises(DownloadError, match="/f: DecodeError"):
        get(server, tmp_path, "/f")
    assert len(server.requests) == 1


def test_retry_after_nan_falls_back_to_backoff(server, tmp_path):
    server.add("/f", DATA, "status:503:nan", "status:503:inf", "ok")
    assert get(server, tmp_path, "/f")[0].sha256 == SHA


@pytest.mark.parametrize("url", ["http://[::1/x", "http://bad host/x", "nothing://x/y", "http://a..b/x"])
def test_invalid_url_is_one_error(tmp_path, url):
    with pytest.raises(DownloadError):
        download.transfer(download.Fetch(url, fresh(tmp_path), 10), download.session(), Progress())


def test_tls_error_is_not_retried(server, tmp_path):
    url = server.url("/f").replace("http://", "https://")
    with pytest.raises(DownloadError, match="SSLError") as info:
        download.transfer(download.Fetch(url, fresh(tmp_path), 10, retries=50), download.session(), Progress())
    assert "giving up" not in str(info.value)


def test_proxy_error_is_not_retried(server, tmp_path, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.delenv("no_proxy", raising=False)
    with pytest.raises(DownloadError, match="ProxyError") as info:
        download.transfer(download.Fetch("http://example.invalid/f", fresh(tmp_path), 10, retries=50),
                       download.session(), Progress())
    assert "giving up" not in str(info.value)


def test_credentials_in_urls_and_escapes_from_servers_are_never_printed(server, tmp_path):
    server.add("/f", DATA, "reason:Denied\x1b]0;owned\x07\x1b[2J")
    server.add("/h", DATA, "html:\x1b[31mred\x1b[0m")
    for path in ("/f", "/h"):
        url = server.url(path).replace("http://", "http://alice:hunter2@")
        with pytest.raises(DownloadError) as info:
            download.transfer(download.Fetch(url, fresh(tmp_path), len(DATA)), download.session(), Progress())
        text = str(info.value)
        assert "hunter2" not in text and "\x1b" not in text and "\x07" not in text and "alice:" not in text
        assert "http://***@127.0.0.1" in text


def test_full_disk_is_a_cache_error_not_a_network_one(server, tmp_path):
    server.add("/f", DATA)
    target = tmp_path / "full"
    target.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(target)], capture_output=True).returncode:
        pytest.skip("mount is not permitted here, so no real full filesystem can be made")
    try:
        with pytest.raises(CacheError, match="No space left on device"):
            download.transfer(download.Fetch(server.url("/f"), target / "out.part", len(DATA)), download.session(), Progress())
        assert len(server.requests) == 1
    finally:
        subprocess.run(["umount", str(target)], check=True)


def test_a_refused_connection_or_unknown_host_fails_at_once_with_the_way_out(tmp_path):
    import time

    for url, why in (("http://127.0.0.1:9/f", "127.0.0.1:9 refused the connection"),
                     ("http://no-such-host.invalid/f", "cannot resolve host no-such-host.invalid")):
        start = time.monotonic()
        with pytest.raises(DownloadError, match=why) as info:
            download.transfer(download.Fetch(url, fresh(tmp_path), 10, retries=5), download.session(), Progress())
        assert time.monotonic() - start < 5 and "giving up" not in str(info.value)
        assert "ZOO_MIRRORS" in info.value.hint and "zoo import" in info.value.hint and "--offline" in info.value.hint


def test_the_bar_shows_an_eta_and_retries_are_said(server, tmp_path, capsys):
    from zoo.progress import StderrProgress

    bar = StderrProgress(bar=True)
    bar.start("model.tflite", 1000)
    bar.advance(250)
    assert "ETA 0:0" in capsys.readouterr().err
    server.add("/f", DATA, "status:503", "ok")
    download.transfer(download.Fetch(server.url("/f"), fresh(tmp_path), len(DATA), label="f.tflite"), download.session(),
                   StderrProgress(bar=False))
    assert "f.tflite: HTTP 503; retry 1 of 5 in 0.0 s" in capsys.readouterr().err
