"""Bytes over HTTP: timeouts, retries with backoff, resume with Range and If-Range, size caps, one-pass hashing.

A file download's HTTP failures are mapped to zoo errors here (registries map their own in oci.py, the command
line maps the Hub's). Plain http:// is accepted for a manifest's own sources because every file is checked against
a pinned hash before it is used. Everything a server says is untrusted: redirects are followed by hand, only to
https (or http on a loopback address), and headers given for a source (credentials) go only to that source's own
scheme, host and port.
"""

from __future__ import annotations

import email.utils
import html
import ipaddress
import itertools
import json
import math
import os
import re
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urljoin, urlsplit

import requests
import urllib3

from zoo import atomic, settings
from zoo.errors import CacheError, DownloadError, redact
from zoo.hashes import CHUNK, BackgroundHasher, Digest
from zoo.progress import Progress

RETRY_STATUS = {429, 500, 502, 503, 504}
REDIRECT_STATUS = {301, 302, 303, 307, 308}
MAX_REDIRECTS = 10
MAX_RETRY_AFTER = 60.0
# Errors that say something about the request itself, never worth a retry (SSLError and ProxyError are
# ConnectionErrors to requests, so they are caught before _TRANSIENT is).
_FATAL = (
    requests.exceptions.SSLError,
    requests.exceptions.ProxyError,
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidHeader,
    requests.exceptions.ContentDecodingError,
    urllib3.exceptions.DecodeError,
    urllib3.exceptions.LocationValueError,
)
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
    resume: str | None = None  # dest holds the first bytes of an earlier attempt: continue them If-Range this validator
    origin: Path | None = None  # where to record the source and validator of a download that starts at byte 0
    source: str = ""  # the manifest's name for where the bytes come from, as recorded in `origin`


class RangeRefused(DownloadError):
    """The server answered 416 to a ranged request: the bytes kept are not a prefix of what it serves."""


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
        except (TypeError, ValueError, OverflowError):
            return fallback
    return min(max(seconds, 0.0), MAX_RETRY_AFTER) if math.isfinite(seconds) else fallback


def origin(url: str) -> tuple[str, str | None, int | None]:
    """(scheme, host, port): what credentials are scoped to. DownloadError if `url` does not parse."""
    try:
        parts = urlsplit(url)
        return parts.scheme, parts.hostname, parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError as e:
        raise DownloadError(f"{url} is not a valid URL ({e})") from None


def loopback(host: str | None) -> bool:
    """localhost or a loopback IP address (the one place plain http is acceptable for a URL zoo was handed)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def followable(url: str) -> bool:
    """Whether zoo may follow a URL a server handed it (a redirect, a page's link, a token realm): https, or http
    to a loopback address. DownloadError if it does not parse."""
    scheme, host, _ = origin(url)
    return scheme == "https" or (scheme == "http" and loopback(host))


def _followable(job: Fetch, url: str, how: str) -> str:
    """`url` if zoo may follow it, else DownloadError naming where it came from."""
    if followable(url):
        return url
    raise DownloadError(f"{job.url} {how} {redact(url)}; refused: only https (or http on a loopback address) is followed")


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


class _Sink:
    """The temp file being written: a full or failing disk is a CacheError, never mistaken for the network's fault.

    It is opened without following links and must be a regular file: a link planted at its path is never written
    through. A fresh file is created exclusively; only a resumed one already exists."""

    def __init__(self, path: Path, resume: bool = False):
        self.path = path
        if not resume:
            self._file = _disk(path, lambda: atomic.exclusive(path))
            return
        fd = _disk(path, lambda: os.open(path, os.O_RDWR | os.O_NOFOLLOW))
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise CacheError(f"{path} is not a regular file, so zoo will not write to it", "remove it and run the command again")
        self._file = os.fdopen(fd, "r+b")

    def write(self, chunk: bytes) -> None:
        _disk(self.path, lambda: self._file.write(chunk))

    def truncate(self) -> None:
        _disk(self.path, lambda: (self._file.seek(0), self._file.truncate()))

    def replay(self, hasher: BackgroundHasher, progress: Progress) -> None:
        """Hash the bytes an earlier attempt left, so the download continues after them (the final hash decides)."""
        self._file.seek(0)
        while chunk := self._file.read(CHUNK):
            hasher.update(chunk)
            progress.advance(len(chunk))

    def close(self) -> None:
        self._file.close()


def _disk(path: Path, action):
    try:
        return action()
    except OSError as e:
        raise CacheError(f"cannot write {path.parent}: {e.strerror}",
                         "free some space, or point ZOO_CACHE_DIR at a writable folder with room") from None


def transfer(job: Fetch, http: requests.Session, progress: Progress) -> Digest:
    """Download job.url into job.dest, resuming after drops; returns the digest of exactly what was written.

    Raises DownloadError for HTTP errors, refused redirects, an HTML page served instead of the file, or more
    bytes than allowed; CacheError when the file cannot be written.
    """
    hasher = BackgroundHasher(job.md5)
    progress.start(job.label or job.dest.name, job.size)
    try:
        out = _Sink(job.dest, job.resume is not None)
        try:
            if job.resume is not None:
                out.replay(hasher, progress)
            _receive(job, http, progress, hasher, out)
        finally:
            out.close()
        return hasher.digest()
    finally:
        progress.done()  # also on failure or Ctrl-C: the bar's line is finished before anything else is printed
        hasher.close()


def _receive(job: Fetch, http: requests.Session, progress: Progress, hasher: BackgroundHasher, out: _Sink) -> None:
    limit = job.size if job.size is not None else settings.max_unsized_download()
    url, confirmed, failures, hops, validator = job.url, False, 0, 0, job.resume
    home = origin(job.url)
    while True:
        headers = dict(job.headers or {}) if origin(url) == home else {}
        if hasher.size:
            headers["Range"] = f"bytes={hasher.size}-"
            if validator:
                headers["If-Range"] = validator
        try:
            with http.get(url, stream=True, headers=headers, timeout=settings.timeouts(), allow_redirects=False) as r:
                if r.status_code in REDIRECT_STATUS and r.headers.get("Location"):
                    hops += 1
                    if hops > MAX_REDIRECTS:
                        raise DownloadError(f"{job.url} redirected more than {MAX_REDIRECTS} times (a redirect loop?)")
                    url = _followable(job, urljoin(url, r.headers["Location"]), "redirects to")
                    continue
                if r.status_code in RETRY_STATUS:
                    failures = _wait(job, failures, f"HTTP {r.status_code}", _retry_after(r, _backoff(failures)), progress)
                    continue
                if r.status_code == 416 and hasher.size:
                    raise RangeRefused(f"{job.url} cannot continue after {hasher.size:,} bytes (HTTP 416: it serves "
                                       "something else now); the kept bytes were discarded")
                if r.status_code >= 400:
                    raise DownloadError(f"HTTP {r.status_code} {r.reason} from {job.url}")
                if hasher.size and not _resumes_at(r, hasher.size):
                    out.truncate()
                    hasher.reset()
                    progress.restart()
                if not hasher.size:
                    validator = _validator(r)
                    if job.origin is not None:
                        _record_origin(job, validator)
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
                        url, confirmed = _followable(job, nxt, "served a download page pointing at"), True
                        break
                    if hasher.size + len(chunk) > limit:
                        raise DownloadError(f"{job.url} sent more than the {limit} bytes expected; stopped")
                    out.write(chunk)
                    hasher.update(chunk)
                    progress.advance(len(chunk))
                else:
                    if job.size is None or hasher.size >= job.size:
                        return
                    failures = _wait(job, failures, f"connection closed after {hasher.size} bytes", _backoff(failures), progress)
        except _FATAL as e:
            raise DownloadError(f"{job.url}: {_cause(e)}") from None
        except _TRANSIENT as e:
            unreachable = _unreachable(e)
            if unreachable:
                raise DownloadError(f"{job.url}: {unreachable}", OFFLINE_HINT) from None
            failures = _wait(job, failures, type(e).__name__, _backoff(failures), progress)


OFFLINE_HINT = ("no network here? point ZOO_MIRRORS at a reachable mirror, install a bundle with `zoo import FILE.tar`, "
                "or set ZOO_OFFLINE=1 (zoo fetch --offline) to use only files already cached")


def _chain(e: BaseException):
    """`e`, then each exception requests and urllib3 wrapped inside it (in `reason` or the arguments)."""
    inner: BaseException | None = e
    while inner is not None:
        yield inner
        inner = next((x for x in (getattr(inner, "reason", None), *getattr(inner, "args", ())) if isinstance(x, BaseException)), None)


def _unreachable(e: Exception) -> str | None:
    """'cannot resolve HOST' or 'HOST:PORT refused the connection': not worth a backoff, the answer will not change."""
    for inner in _chain(e):
        if isinstance(inner, urllib3.exceptions.NameResolutionError):
            return f"cannot resolve host {inner.conn.host} (no network, or no DNS)"
        if isinstance(inner, ConnectionRefusedError) or (isinstance(inner, urllib3.exceptions.NewConnectionError)
                                                         and "refused" in str(inner).lower()):
            conn = getattr(inner, "conn", None)
            where = f"{conn.host}:{conn.port}" if conn is not None else "the server"
            return f"{where} refused the connection"
    return None


def _cause(e: Exception) -> str:
    """The error's kind and its innermost reason, without the layers of wrapping requests and urllib3 add."""
    *_, inner = _chain(e)
    return f"{type(e).__name__}: {inner}"


def _body(r: requests.Response):
    """Chunks as they arrive (one socket read each), so a dropped connection loses nothing already received."""
    raw = r.raw
    while chunk := raw.read1(CHUNK, decode_content=True):
        yield chunk


def _backoff(failures: int) -> float:
    return settings.retry_backoff() * (2**failures)


def _wait(job: Fetch, failures: int, why: str, delay: float, progress: Progress) -> int:
    if failures >= job.retries:
        raise DownloadError(f"{job.url}: {why}, giving up after {job.retries} retries")
    progress.note(f"{job.label or job.url}: {why}; retry {failures + 1} of {job.retries} in {delay:.1f} s")
    time.sleep(delay)
    return failures + 1


def _record_origin(job: Fetch, validator: str | None) -> None:
    """Note which source wrote the file from byte 0, and its validator, so a later attempt may continue it; without
    the note a later attempt starts over, so a failure to write it is no failure of the download."""
    try:
        atomic.write(job.origin, json.dumps({"source": job.source, "validator": validator or ""}))
    except OSError:
        pass


def _validator(r: requests.Response) -> str | None:
    """What proves a later ranged request gets the same object (If-Range): a strong ETag, else Last-Modified."""
    etag = r.headers.get("ETag", "")
    if etag.startswith('"'):
        return etag
    return r.headers.get("Last-Modified") or None


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
