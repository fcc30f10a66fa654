"""Getting one pinned file into the cache, verified: a hit, else its sources in turn (ZOO_MIRRORS first).

A download that was interrupted (Ctrl-C, a dropped link, a killed process) leaves a partial file named by the pin,
with a record of the source that wrote it and that source's validator (ETag or Last-Modified). The next attempt
continues it only from that source and only if the source proves, with If-Range, that it still serves the same
object; a partial already as long as the pinned size is hashed first and installed if it matches. Anything else
(a 416, another source, no validator, a hash failure, a planted link) discards the partial and starts over: only
the final hash decides what reaches the cache.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Sequence
from pathlib import Path

from zoo import atomic, hashes, settings
from zoo.cache import Cache
from zoo.errors import CacheError, ChecksumMismatch, DownloadError, FetchFailed, OfflineMiss
from zoo.manifest import PinnedFile
from zoo.progress import Progress
from zoo.sources import Hub, Https, Member, Oci, mirrored, parse as parse_source

MAX_ORIGIN_BYTES = 4096


def cached(model: str, f: PinnedFile, cache: Cache, progress: Progress | None = None) -> tuple[Path, str] | None:
    """The verified cached path of `f` and its sha256, or None. A cached file that fails its hash is removed, and
    `progress` is told so."""
    sha256 = f.sha256 or (cache.sha256_for_md5(f.md5) if f.md5 else None)
    if sha256 is None:
        return None
    path = cache.lookup(model, f.id, f.file, sha256)
    if path is None and progress is not None and cache.discarded(sha256):
        progress.message(f"the cached {f.file} failed verification (its bytes no longer match sha256 {sha256}) "
                         "and was removed")
    return (path, sha256) if path else None


def obtain(model: str, f: PinnedFile, cache: Cache, *, offline: bool, progress: Progress,
           trust_unpinned: bool = False, archives: Sequence[PinnedFile] = ()) -> tuple[Path, str]:
    """The cached, verified path of a pinned file and its sha256, downloading it (once across processes) if missing.

    A file with no pin is refused unless `trust_unpinned` (recipes' --trust-upstream): then its observed
    sha256 is reported so it can be pinned. `archives`: the model's upstream files a `member://ID/PATH` source names.
    """
    hit = cached(model, f, cache, progress)
    if hit:
        return hit
    what = f"{model}/{f.id} ({f.file})"
    if offline:
        for ref in map(parse_source, f.sources):  # a member of an archive already cached and verified needs no network
            archive = next((a for a in archives if a.id == ref.archive), None) if isinstance(ref, Member) else None
            if archive is not None and cached(model, archive, cache) is not None:
                return _member(model, f, ref, cache, archives, f.sha256 is None and f.md5 is not None, progress)
        removed = " (a copy that failed verification was removed)" if cache.discarded(f.sha256) else ""
        raise OfflineMiss(f"{what} is not in the cache at {cache.root}{removed} and zoo is offline",
                          "fetch it once while online (without --offline and ZOO_OFFLINE)")
    if f.pin is None and not trust_unpinned:
        raise FetchFailed(what, [("manifest", "no sha256 or md5 is pinned, so it cannot be verified")])
    if not f.sources and not settings.mirrors():
        raise FetchFailed(what, [])
    lock = cache.lock(f.sha256 or (f"md5-{f.md5}" if f.md5 else f"unpinned-{model}-{f.id}"), settings.lock_timeout())
    if lock is None:
        progress.message(f"another process is still fetching {f.file} after {settings.lock_timeout():g} s; downloading too")
    try:
        return cached(model, f, cache) or _download(model, f, cache, progress, keep_partial=lock is not None,
                                                    archives=archives)
    finally:
        if lock is not None:
            lock.release()


def obtain_unhosted(model: str, f: PinnedFile, cache: Cache, *, offline: bool, progress: Progress) -> tuple[Path, str] | None:
    """A pinned file no manifest source hosts (a derived artifact): the cache, else the mirrors (ZOO_MIRRORS), verified
    by its pin like any download. None when it is not cached and no mirror may be asked (offline, none set);
    FetchFailed when no mirror has it."""
    if offline or f.sha256 is None or not settings.mirrors():
        return cached(model, f, cache, progress)
    return obtain(model, f, cache, offline=False, progress=progress)


def obtain_cached(model: str, f: PinnedFile, progress: Progress | None = None, trust_unpinned: bool = False,
                  archives: Sequence[PinnedFile] = ()) -> tuple[Path, str]:
    """obtain() into the default cache (ZOO_CACHE_DIR), offline when ZOO_OFFLINE says so."""
    return obtain(model, f, Cache(settings.cache_dir()), offline=settings.offline(), progress=progress or Progress(),
                  trust_unpinned=trust_unpinned, archives=archives)


class _Partial:
    """An interrupted download kept under the lock: the bytes, and which source wrote them with what validator."""

    def __init__(self, cache: Cache, key: str):
        self.path = cache.partial(key)
        self.origin_path = self.path.with_suffix(".origin")

    def size(self) -> int:
        """Bytes kept; anything at the path that is not a regular file zoo wrote is removed first."""
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return 0
        if not stat.S_ISREG(st.st_mode):
            self.discard()
            return 0
        return st.st_size

    def origin(self) -> dict:
        """{'source', 'validator'} of the source that wrote the partial, or {} when unknown or unreadable."""
        try:
            fd = os.open(self.origin_path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return {}
        try:
            data = json.loads(os.read(fd, MAX_ORIGIN_BYTES))
        except (ValueError, RecursionError):
            return {}
        finally:
            os.close(fd)
        ok = isinstance(data, dict) and all(isinstance(data.get(k), str) for k in ("source", "validator"))
        return data if ok else {}

    def discard(self) -> None:
        for path in (self.path, self.origin_path):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def _download(model: str, f: PinnedFile, cache: Cache, progress: Progress, keep_partial: bool,
              archives: Sequence[PinnedFile] = ()) -> tuple[Path, str]:
    """Try each source in turn (the one that wrote a partial first); see the module docstring for partials."""
    from zoo import download

    md5_only = f.sha256 is None and f.md5 is not None
    if md5_only:
        progress.message(f"{f.file} is pinned only by md5 (all its upstream publishes): verifying by md5"
                         f"{' and size' if f.size else ''}, then recording its sha256 for later checks")
    mirrors = [mirrored(prefix, model, f.file) for prefix in settings.mirrors()]
    sources = mirrors + f.sources
    partial = _Partial(cache, f.sha256 or f"md5-{f.md5}") if keep_partial and f.pin else None
    if partial is not None:
        complete = _complete(partial, f, md5_only)
        if complete is not None:
            progress.note(f"an interrupted download of {f.file} was already complete; verified it")
            return _install(cache, partial.path, complete, model, f, "an earlier download", md5_only, progress)
        wrote = partial.origin().get("source")
        sources.sort(key=lambda s: s != wrote)
    http = download.session()
    failures = []
    for source in sources:
        if isinstance(ref := parse_source(source), Member):
            try:
                return _member(model, f, ref, cache, archives, md5_only, progress)
            except (DownloadError, ChecksumMismatch) as e:
                failures.append((source, str(e)))
                if len(sources) > 1:
                    progress.message(f"{source} failed: {e}")
                continue
        tmp = partial.path if partial else cache.temp()
        try:
            url, headers = _request(ref, f)
            resume = _resumable(partial, source, url, f, progress)
            job = download.Fetch(url, tmp, f.size, md5=md5_only, headers=headers, label=f.file, resume=resume,
                                 origin=partial.origin_path if partial else None, source=source)
            digest = download.transfer(job, http, progress)
            try:
                hashes.check(digest, url, sha256=f.sha256, md5=f.md5 if md5_only else None, size=f.size)
            except ChecksumMismatch:
                _drop(partial, tmp)
                raise
            return _install(cache, tmp, digest, model, f, url, md5_only, progress)
        except CacheError:
            _drop(partial, tmp)
            raise
        except download.RangeRefused as e:
            _drop(partial, tmp)
            failures.append((source, str(e).removeprefix(f"{source}: ")))
        except (DownloadError, ChecksumMismatch) as e:
            failures.append((source, str(e).removeprefix(f"{source}: ")))
            if len(sources) > 1:
                progress.message(f"{source} failed: {e}")
        finally:
            if partial is None:
                tmp.unlink(missing_ok=True)
    raise FetchFailed(f"{model}/{f.id} ({f.file})", failures)


def _drop(partial: _Partial | None, tmp: Path) -> None:
    if partial is not None:
        partial.discard()
    else:
        tmp.unlink(missing_ok=True)


def _complete(partial: _Partial, f: PinnedFile, md5_only: bool) -> hashes.Digest | None:
    """The digest of a partial that already holds the whole pinned file (a process killed between the last byte
    and the rename); a partial as long as the pinned size that does not match is discarded."""
    kept = partial.size()
    if not kept or (f.size is not None and kept < f.size):
        return None
    digest = hashes.file_digest(partial.path, md5=md5_only)
    try:
        hashes.check(digest, f.file, sha256=f.sha256, md5=f.md5 if md5_only else None, size=f.size)
    except ChecksumMismatch:
        if f.size is not None:
            partial.discard()
        return None
    return digest


def _resumable(partial: _Partial | None, source: str, url: str, f: PinnedFile, progress: Progress) -> str | None:
    """The validator to continue the partial with (If-Range), or None after discarding a partial this source did not
    write or cannot vouch for."""
    if partial is None:
        return None
    kept = partial.size()
    if not kept:
        partial.discard()
        return None
    origin = partial.origin()
    if origin.get("source") != source or not origin.get("validator"):
        why = "another source" if origin.get("source") not in (None, source) else "a source that gave no validator to resume with"
        progress.note(f"starting {f.file} over: the {kept:,} bytes kept came from {why}")
        partial.discard()
        return None
    progress.note(f"resuming {f.file} after {kept:,} bytes from an interrupted download")
    return origin["validator"]


def _install(cache: Cache, tmp: Path, digest: hashes.Digest, model: str, f: PinnedFile, url: str, md5_only: bool,
             progress: Progress) -> tuple[Path, str]:
    path = cache.install(tmp, digest, model, f.id, f.file)
    cache.partial(f.sha256 or f"md5-{f.md5}").with_suffix(".origin").unlink(missing_ok=True)
    if f.pin is None:
        progress.message(f"trusted unpinned {f.file} from {url}: observed sha256 {digest.sha256} (pin it in the manifest)")
    elif md5_only:
        progress.message(f"recorded sha256 {digest.sha256} for {f.file} (md5 {digest.md5})")
    return path, digest.sha256


def _member(model: str, f: PinnedFile, ref: Member, cache: Cache, archives: Sequence[PinnedFile], md5_only: bool,
            progress: Progress) -> tuple[Path, str]:
    """A file that is a member of one of the model's pinned archives (a wheel, a zip): the archive is obtained and
    verified like any download (resumable, size-capped, its own pin), then only the member is read out, at most its
    pinned size, and checked against the file's own pin."""
    import zipfile

    from zoo.archive import ZIP_DAMAGE, check_zip_member

    source, archive_id, member = ref.source, ref.archive, ref.path
    archive = next((a for a in archives if a.id == archive_id), None)
    if archive is None:
        raise DownloadError(f"{source}: the manifest has no upstream archive {archive_id!r}")
    path, _ = obtain(model, archive, cache, offline=False, progress=progress)
    progress.note(f"extracting {f.file} from {archive.file}")
    limit = f.size if f.size is not None else settings.max_unsized_download()
    tmp = cache.temp()
    try:
        with zipfile.ZipFile(path) as z:
            try:
                info = z.getinfo(member)
            except KeyError:
                raise DownloadError(f"{archive.file} has no member {member!r}") from None
            if info.file_size > limit:
                raise DownloadError(f"{archive.file}:{member} is {info.file_size:,} bytes, more than the {limit:,} expected")
            check_zip_member(info, archive.file)
            hasher = hashes.Hasher(md5=md5_only)
            with z.open(info) as src, atomic.exclusive(tmp) as dst:
                while chunk := src.read(min(hashes.CHUNK, limit + 1 - hasher.size)):
                    dst.write(chunk)
                    hasher.update(chunk)
        digest = hasher.digest()
        hashes.check(digest, f"{archive.file}:{member}", sha256=f.sha256, md5=f.md5 if md5_only else None, size=f.size)
        return _install(cache, tmp, digest, model, f, source, md5_only, progress)
    except (*ZIP_DAMAGE, OSError) as e:
        if isinstance(e, CacheError):
            raise
        raise DownloadError(f"{archive.file} is damaged: not a readable zip archive ({type(e).__name__}: {e})") from None
    finally:
        tmp.unlink(missing_ok=True)


def _request(ref: Https | Hub | Oci, f: PinnedFile) -> tuple[str, dict[str, str] | None]:
    """The URL and headers (credentials for that host only) to download `ref` with."""
    if isinstance(ref, Hub):
        from zoo.hub import hf_request

        return hf_request(ref)
    if isinstance(ref, Oci):
        if f.sha256 is None:
            raise DownloadError(f"{ref.source}: an OCI registry serves blobs by sha256, and {f.file} is pinned only by md5")
        from zoo.oci import blob_request

        return blob_request(ref, f.sha256)
    return ref.url, None
