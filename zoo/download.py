"""Bytes over HTTP: timeouts, retries with backoff, resume with Range, size caps, one-pass hashing.

HTTP failures are mapped to zoo errors here and nowhere else. Plain http:// is accepted because every
file is checked against a pinned hash before it is used.
"""

from __future__ import annotations

import email.utils
import html
import itertools
import re
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urljoin

import requests
import urllib3

from zoo import settings
from zoo.errors import DownloadError
from zoo.hashes import CHUNK, BackgroundHasher, Digest
from zoo.progress import Progress

RETRY_STATUS = {429, 500, 502, 503, 504}
MAX_RETRY_AFTER = 60.0
_TRANSIENT = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.ReadTimeoutError,
)
_FORM = re.compile(r'<form[^>]*id="download-form"[^>]*action="([^"]+)"[^>]*>(.*?)</form>', re.S | re.I)
_HIDDEN = re.compile(r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', re.I)
_CONFIRM = re.compile(r'href="([^"]*[?&](?:amp;)?confirm=[^"]+)"', re.I)
_TITLE = re.compile(r"<title>(.*?)</title>", re.S | re.I)


@dataclass
class Fetch:
    """One URL to fetch into `dest`, with the limits the manifest sets."""

    url: str
    dest: Path
    size: int | None
    md5: bool = False
    headers: dict[str, str] | None = None
    retries: int = 5
    label: str = ""


def session() -> requests.Session:
    s = requests.Session()
    s.headers.update({"User-Agent": "zoo/0.1", "Accept-Encoding": "identity"})
    return s


def _retry_after(response: requests.Response, fallback: float) -> float:
    value = response.headers.get("Retry-After")
    if value is None:
        return fallback
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return fallback
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _looks_like_html(first: bytes, content_type: str) -> bool:
    head = first[:512].lstrip().lower()
    return "text/html" in content_type.lower() or head.startswith((b"<!doctype html", b"<html"))


def _confirm_url(page: str, base: str) -> str | None:
    """Google Drive's 'cannot scan this file for viruses' page: the URL its download button leads to."""
    form = _FORM.search(page)
    if form:
        action = urljoin(base, html.unescape(form.group(1)))
        fields = {k: html.unescape(v) for k, v in _HIDDEN.findall(form.group(2))}
        return f"{action}?{urlencode(fields)}" if fields else action
    link = _CONFIRM.search(page)
    return urljoin(base, html.unescape(link.group(1))) if link else None


def _html_error(url: str, page: str) -> DownloadError:
    title = _TITLE.search(page)
    what = f" ({' '.join(title.group(1).split())[:80]})" if title else ""
    return DownloadError(f"{url} served an HTML page{what} instead of the file",
                         "the link may need a login, be rate-limited, or point at a web page")


def fetch(job: Fetch, http: requests.Session, progress: Progress) -> Digest:
    """Download job.url into job.dest, resuming after drops; returns the digest of exactly what was written.

    Raises DownloadError for HTTP errors, an HTML page served instead of the file, or more bytes than allowed.
    """
    hasher = BackgroundHasher(job.md5)
    progress.start(job.label or job.dest.name, job.size)
    try:
        with open(job.dest, "wb") as out:
            _transfer(job, http, progress, hasher, out)
        progress.done()
        return hasher.digest()
    finally:
        hasher.close()


def _transfer(job: Fetch, http: requests.Session, progress: Progress, hasher: BackgroundHasher, out) -> None:
    limit = job.size if job.size is not None else settings.max_unsized_download()
    url, confirmed, failures = job.url, False, 0
    while True:
        headers = dict(job.headers or {})
        if hasher.size:
            headers["Range"] = f"bytes={hasher.size}-"
        try:
            with http.get(url, stream=True, headers=headers, timeout=settings.timeouts()) as r:
                if r.status_code in RETRY_STATUS:
                    failures = _wait(job, failures, f"HTTP {r.status_code}", _retry_after(r, _backoff(failures)))
                    continue
                if r.status_code >= 400:
                    raise DownloadError(f"HTTP {r.status_code} {r.reason} from {job.url}")
                if hasher.size and not _resumes_at(r, hasher.size):
                    out.seek(0)
                    out.truncate()
                    hasher.reset()
                    progress.restart()
                total = _declared_total(r, hasher.size)
                if total is not None and total > limit:
                    raise DownloadError(f"{job.url} declares {total} bytes but at most {limit} are expected")
                chunks = _body(r)
                for chunk in chunks:
                    if hasher.size == 0 and _looks_like_html(chunk, r.headers.get("Content-Type", "")):
                        page = b"".join([chunk, *itertools.islice(chunks, 4)]).decode("utf-8", "replace")
                        nxt = None if confirmed else _confirm_url(page, r.url)
                        if nxt is None:
                            raise _html_error(job.url, page)
                        url, confirmed = nxt, True
                        break
                    if hasher.size + len(chunk) > limit:
                        raise DownloadError(f"{job.url} sent more than the {limit} bytes expected; stopped")
                    out.write(chunk)
                    hasher.update(chunk)
                    progress.advance(len(chunk))
                else:
                    if job.size is None or hasher.size >= job.size:
                        return
                    failures = _wait(job, failures, f"connection closed after {hasher.size} bytes", _backoff(failures))
        except _TRANSIENT as e:
            failures = _wait(job, failures, type(e).__name__, _backoff(failures))


def _body(r: requests.Response):
    """Chunks as they arrive (one socket read each), so a dropped connection loses nothing already received."""
    raw = r.raw
    while chunk := raw.read1(CHUNK, decode_content=True):
        yield chunk


def _backoff(failures: int) -> float:
    return settings.retry_backoff() * (2**failures)


def _wait(job: Fetch, failures: int, why: str, delay: float) -> int:
    if failures >= job.retries:
        raise DownloadError(f"{job.url}: {why}, giving up after {job.retries} retries")
    time.sleep(delay)
    return failures + 1


def _resumes_at(r: requests.Response, offset: int) -> bool:
    """True if a ranged response continues exactly at `offset` (else the server ignored Range: start over)."""
    if r.status_code != 206:
        return False
    match = re.match(r"bytes (\d+)-", r.headers.get("Content-Range", ""))
    return bool(match) and int(match.group(1)) == offset


def _declared_total(r: requests.Response, offset: int) -> int | None:
    length = r.headers.get("Content-Length")
    if length is None or not length.isdigit():
        return None
    return int(length) + (offset if r.status_code == 206 else 0)
