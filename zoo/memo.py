"""Small JSON files zoo keeps in its cache to go faster (the remembered hits, the manifest index). They are hints,
never trusted: read defensively (a file zoo cannot read is an empty one), checked by their users against what they
stand for, and replaced atomically; a read-only cache simply keeps none."""

from __future__ import annotations

import json
from pathlib import Path

from zoo import atomic
from zoo.cache import Cache


def path(cache: Cache, name: str) -> Path:
    return cache.root / "index" / name


def read(file: Path, max_bytes: int) -> dict:
    """The JSON object in `file`, or {} when it is missing, larger than `max_bytes`, not JSON, nested too deep (or
    with a number JSON cannot hold) or not an object."""
    try:
        with open(file, "rb") as f:
            data = f.read(max_bytes + 1)
        found = json.loads(data) if len(data) <= max_bytes else None
    except (OSError, ValueError, RecursionError):
        return {}
    return found if isinstance(found, dict) else {}


def write(cache: Cache, name: str, data: dict) -> None:
    """Replace `index/<name>` in the cache; nothing when the cache cannot be written."""
    try:
        cache.folder("index")
        atomic.write(path(cache, name), json.dumps(data, separators=(",", ":")))
    except OSError:
        pass
