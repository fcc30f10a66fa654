"""Small JSON files zoo keeps in its cache to go faster (the remembered hits, the manifest index). They are hints,
never trusted: read defensively (a file zoo cannot read is an empty one), checked by their users against what they
stand for, and replaced atomically; a read-only cache simply keeps none."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from zoo import atomic
from zoo.cache import Cache


def path(cache: Cache, name: str) -> Path:
    return cache.root / "index" / name


def read(file: Path, max_bytes: int) -> dict:
    """The JSON object in `file`, or {} when it is missing, not a regular file (a FIFO would block, a link is not
    followed), larger than `max_bytes`, not JSON, nested too deep (or with a number JSON cannot hold) or not an
    object."""
    data = read_bytes(file, max_bytes)
    try:
        found = json.loads(data) if data is not None else None
    except (ValueError, RecursionError):
        return {}
    return found if isinstance(found, dict) else {}


def read_bytes(file: Path | str, max_bytes: int, *, follow: bool = False) -> bytes | None:
    """The bytes of `file`, or None when it is missing, not a regular file (a FIFO would block), a link (unless
    `follow`) or larger than `max_bytes`."""
    try:
        fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK | (0 if follow else os.O_NOFOLLOW))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > max_bytes:
            return None
        data = b""
        while len(data) <= max_bytes and (chunk := os.read(fd, max_bytes + 1 - len(data))):
            data += chunk
        return data if len(data) <= max_bytes else None
    except OSError:
        return None
    finally:
        os.close(fd)


def write(cache: Cache, name: str, data: dict) -> None:
    """Replace `index/<name>` in the cache; nothing when the cache cannot be written. An index folder that is a link
    (zoo makes none) is removed, never written through."""
    folder = cache.root / "index"
    try:
        if folder.is_symlink():
            folder.unlink()
        cache.folder("index")
        atomic.write(path(cache, name), json.dumps(data, separators=(",", ":")))
    except OSError:
        pass
