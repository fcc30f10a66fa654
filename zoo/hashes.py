"""sha256 (and legacy md5) checking, in one place: one pass over the bytes, clear mismatches."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from zoo.errors import ChecksumMismatch

CHUNK = 1 << 20


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
