"""Resolve a model to a verified local file: decide (resolve.py), then act (cache.py, download.py).

A cache hit touches neither the network nor requests: download and huggingface_hub load only on a miss.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from zoo import catalog, hashes, hit, settings
from zoo.cache import Cache
from zoo.errors import CacheError, ChecksumMismatch, DownloadError, FetchFailed, OfflineMiss
from zoo.manifest import Artifact, Manifest, PinnedFile
from zoo.progress import Progress, StderrProgress
from zoo.choice import choose, rebuildable


@dataclass(frozen=True)
class Resolved:
    """A verified local artifact; usable wherever a path is (os.fspath, open)."""

    path: Path
    sha256: str
    size: int
    target: str
    delegate: str | None
    artifact: Artifact
    manifest: Manifest
    explanation: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def to_dict(self) -> dict:
        return {
            "model": self.manifest.name,
            "artifact": self.artifact.id,
            "target": self.target,
            "path": str(self.path),
            "sha256": self.sha256,
            "size": self.size,
            "delegate": self.delegate,
            "file": self.artifact.file,
            "explanation": list(self.explanation),
        }


def resolve(
    name: str,
    target: str = "auto",
    *,
    offline: bool | None = None,
    cache_dir: str | os.PathLike | None = None,
    strict: bool = False,
    explain: bool = False,
    progress: Progress | None = None,
    root: str | os.PathLike = "/",
    build: bool = False,
) -> Resolved:
    """Pick the artifact of `name` for `target` ('auto' detects under `root`), fetch and verify it, return its path.

    ZOO_TARGET overrides 'auto'; ZOO_OFFLINE=1 (or offline=True) never touches the network. With `build`, a pinned
    artifact nobody hosts yet is compiled from its published parent and admitted only if it matches its pin.
    """
    decided, detected = hit.requested(target, root)
    key = hit.key(name, target, decided, detected, strict, build, cache_dir)
    progress = progress or (StderrProgress(bar=False) if explain else Progress())
    resolved = hit.warm(key)
    if resolved is None:
        reasons = [f"ZOO_TARGET={decided} overrides auto"] if decided != target else []
        cache = Cache(Path(cache_dir) if cache_dir else settings.cache_dir())
        resolved = _resolve(key, name, decided, detected, cache, strict, build, reasons,
                            settings.offline() if offline is None else offline, progress)
    else:
        for warning in resolved.warnings:
            progress.message(warning)
    if explain:
        for line in resolved.explanation:
            progress.note(f"explain: {line}")
    return resolved


def _resolve(key: tuple, name: str, target: str, detected: list[str], cache: Cache, strict: bool, build: bool,
             reasons: list[str], offline: bool, progress: Progress) -> Resolved:
    """The full path: load the catalog, choose, obtain or rebuild; then remember the hit."""
    manifests = catalog.load()
    m = manifests.get(name)
    candidates = [a for a in m.artifacts if rebuildable(m, a)]
    rebuilt = frozenset(a.id for a in candidates if build or _cached(m.name, a, cache))
    choice = choose(m, target, detected, strict, rebuilt)
    for warning in choice.warnings:
        progress.message(warning)
    if choice.artifact.published:
        path, sha256 = obtain(m.name, choice.artifact, cache, offline=offline, progress=progress)
    else:
        path, sha256 = _cached(m.name, choice.artifact, cache) or _rebuild(m, choice.artifact, cache, progress)
    resolved = Resolved(path, sha256, choice.artifact.size or path.stat().st_size, choice.target, choice.artifact.delegate,
                        choice.artifact, m, (*reasons, *choice.reasons), tuple(choice.warnings))
    absent = tuple(os.fspath(p) for a in candidates if a.id not in rebuilt
                   for p in (cache.view(m.name, a.id, a.file), cache.blob(a.sha256)))
    hit.remember(key, hit.Hit(os.fspath(path), sha256, resolved.warnings, manifests.fingerprint, absent), resolved, cache)
    return resolved


def _rebuild(m: Manifest, a: Artifact, cache: Cache, progress: Progress) -> tuple[Path, str]:
    from zoo.convert.compiled import rebuild_into_cache

    return rebuild_into_cache(m, a, cache, progress)


def _cached(model: str, f: PinnedFile, cache: Cache) -> tuple[Path, str] | None:
    sha256 = f.sha256 or (cache.sha256_for_md5(f.md5) if f.md5 else None)
    if sha256 is None:
        return None
    path = cache.lookup(model, f.id, f.file, sha256)
    return (path, sha256) if path else None


def obtain(model: str, f: PinnedFile, cache: Cache, *, offline: bool, progress: Progress,
           trust_unpinned: bool = False) -> tuple[Path, str]:
    """The cached, verified path of a pinned file and its sha256, downloading it (once across processes) if missing.

    A file with no pin is refused unless `trust_unpinned` (recipes' --trust-upstream): then its observed
    sha256 is reported so it can be pinned.
    """
    hit = _cached(model, f, cache)
    if hit:
        return hit
    if offline:
        raise OfflineMiss(f"{model}/{f.id} ({f.file}) is not in the cache at {cache.root} and zoo is offline",
                          "fetch it once while online (without --offline and ZOO_OFFLINE)")
    if f.pin is None and not trust_unpinned:
        raise FetchFailed(f"{model}/{f.id} ({f.file})", [("manifest", "no sha256 or md5 is pinned, so it cannot be verified")])
    if not f.sources and not settings.mirrors():
        raise FetchFailed(f"{model}/{f.id} ({f.file})", [])
    lock = cache.lock(f.sha256 or (f"md5-{f.md5}" if f.md5 else f"unpinned-{model}-{f.id}"), settings.lock_timeout())
    if lock is None:
        progress.message(f"another process is still fetching {f.file} after {settings.lock_timeout():g} s; downloading too")
    try:
        return _cached(model, f, cache) or _download(model, f, cache, progress, keep_partial=lock is not None)
    finally:
        if lock is not None:
            lock.release()


def _download(model: str, f: PinnedFile, cache: Cache, progress: Progress, keep_partial: bool) -> tuple[Path, str]:
    """Try each source in turn. Holding the lock, the partial file has a name derived from the pin: a transfer
    that was interrupted (Ctrl-C, a dropped link, a dead mirror) is continued with Range by the next attempt,
    from any source, and only the final hash decides. Bytes that fail it are deleted."""
    from zoo import download

    md5_only = f.sha256 is None and f.md5 is not None
    if md5_only:
        progress.message(f"{f.file} is pinned only by md5 (all its upstream publishes): verifying by md5"
                         f"{' and size' if f.size else ''}, then recording its sha256 for later checks")
    http = download.session()
    failures = []
    mirrors = [f"{prefix}/{model}" + ("" if prefix.startswith("oci://") else f"/{f.file}") for prefix in settings.mirrors()]
    sources = mirrors + f.sources
    partial = cache.partial(f.sha256 or f"md5-{f.md5}") if keep_partial and f.pin else None
    for source in sources:
        tmp = partial or cache.temp()
        try:
            url, headers = _request(source, f)
            kept = tmp.stat().st_size if tmp.exists() else 0
            resume = kept > 0
            if resume:
                progress.note(f"resuming {f.file} after {kept:,} bytes from an interrupted download")
            digest = download.transfer(download.Fetch(url, tmp, f.size, md5=md5_only, headers=headers, label=f.file,
                                                   resume=resume), http, progress)
            try:
                hashes.check(digest, url, sha256=f.sha256, md5=f.md5 if md5_only else None, size=f.size)
            except ChecksumMismatch:
                tmp.unlink(missing_ok=True)
                raise
            path = cache.install(tmp, digest, model, f.id, f.file)
            if f.pin is None:
                progress.message(f"trusted unpinned {f.file} from {url}: observed sha256 {digest.sha256} (pin it in the manifest)")
            elif md5_only:
                progress.message(f"recorded sha256 {digest.sha256} for {f.file} (md5 {digest.md5})")
            return path, digest.sha256
        except CacheError:
            tmp.unlink(missing_ok=True)
            raise
        except (DownloadError, ChecksumMismatch) as e:
            failures.append((source, str(e).removeprefix(f"{source}: ")))
            if len(sources) > 1:
                progress.message(f"{source} failed: {e}")
        finally:
            if tmp is not partial:
                tmp.unlink(missing_ok=True)
    raise FetchFailed(f"{model}/{f.id} ({f.file})", failures)


def _request(source: str, f: PinnedFile) -> tuple[str, dict[str, str] | None]:
    """The URL and headers (credentials for that host only) to download `source` with."""
    if source.startswith("hf://"):
        from zoo.hub import hf_request

        return hf_request(source)
    if source.startswith("oci://"):
        if f.sha256 is None:
            raise DownloadError(f"{source}: an OCI registry serves blobs by sha256, and {f.file} is pinned only by md5")
        from zoo.oci import blob_request

        return blob_request(source, f.sha256)
    return source, None


def export(resolved: Resolved, dest: Path) -> Path:
    """Copy the resolved file to the file path `dest` (the caller decides it, e.g. from a folder); a copy, so editing it
    cannot touch the cache."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.zoo-tmp"
    shutil.copyfile(resolved.path, tmp)
    os.replace(tmp, dest)
    return dest
