"""sha256 (and legacy md5) checking, in one place: one pass over the bytes, clear mismatches."""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from dataclasses import dataclass
from pathlib import Path

from zoo.errors import ChecksumMismatch

CHUNK = 1 << 20
StatKey = tuple[int, ...]


def stat_key(path: str | Path) -> StatKey | None:
    """What must not change for a file to be trusted without re-reading it (see key_of); None if absent."""
    try:
        return key_of(os.stat(path))
    except OSError:
        return None


def key_of(st: os.stat_result) -> StatKey:
    """Size, mtime, ctime and inode, of a stat result already at hand (a directory listing's): the ctime moves on any
    write, rename or utime, so a same-size edit within the file system's mtime granularity is seen too."""
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino


def blob_key(path: str | Path) -> StatKey | None:
    """A cache blob's key: size, mtime and inode, without the ctime, which each hard link to the blob (a readable
    view of the cache is one) moves; blobs are read-only files in zoo's own folder."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino


@dataclass(frozen=True)
class Digest:
    size: int
    sha256: str
    md5: str | None = None


class Hasher:
    """Feeds every byte once to sha256, and to md5 when a file is pinned only by md5."""

    def __init__(self, md5: bool = False):
        self._sha = hashlib.sha256()
        self._md5 = hashlib.md5(usedforsecurity=False) if md5 else None
        self.size = 0

    def update(self, data: bytes | memoryview) -> None:
        self._sha.update(data)
        if self._md5 is not None:
            self._md5.update(data)
        self.size += len(data)

    def digest(self) -> Digest:
        return Digest(self.size, self._sha.hexdigest(), self._md5.hexdigest() if self._md5 else None)


_RESET = object()


class BackgroundHasher:
    """A Hasher fed from a bounded queue on its own thread, so hashing overlaps network reads.

    hashlib releases the GIL on large buffers, so this uses a second core. Chunks must not be mutated
    after update(); call digest() or close() exactly once.
    """

    def __init__(self, md5: bool = False, depth: int = 32):
        self._md5 = md5
        self._hasher = Hasher(md5)
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self.size = 0

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            if chunk is _RESET:
                self._hasher = Hasher(self._md5)
            else:
                self._hasher.update(chunk)

    def update(self, data: bytes) -> None:
        self._queue.put(data)
        self.size += len(data)

    def reset(self) -> None:
        """Start over from byte 0 (the server ignored a Range request)."""
        self._queue.put(_RESET)
        self.size = 0

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def digest(self) -> Digest:
        self.close()
        return self._hasher.digest()


def sha256_of(data: bytes) -> str:
    """The sha256 of bytes in memory (a manifest, a card, a build record)."""
    return hashlib.sha256(data).hexdigest()


def file_digest(path: Path, md5: bool = False) -> Digest:
    """Hash a file in one pass with a reused buffer."""
    hasher, buf = Hasher(md5), bytearray(CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            hasher.update(view[:n])
    return hasher.digest()


def check(digest: Digest, what: str, *, sha256: str | None, md5: str | None, size: int | None) -> None:
    """Raise ChecksumMismatch naming `what` and both values if the digest disagrees with any pin."""
    if size is not None and digest.size != size:
        raise ChecksumMismatch(what, "size", f"{size} bytes", f"{digest.size} bytes")
    if sha256 is not None and digest.sha256 != sha256:
        raise ChecksumMismatch(what, "sha256", sha256, digest.sha256)
    if md5 is not None and digest.md5 != md5:
        raise ChecksumMismatch(what, "md5", md5, str(digest.md5))
