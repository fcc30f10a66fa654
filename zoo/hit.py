"""Cache hits answered before pydantic, typer or the catalog load: a memo of finished `zoo fetch` resolutions.

An entry is keyed by everything that decided it: the model name as typed, the requested target, ZOO_TARGET, the
detected targets (for auto), strictness, the cache folder and every manifest file's stat key. It is trusted only
while that key is unchanged and the cached file still matches the stat record the cache wrote when it verified the
bytes, so a hit here is exactly the hit the full path would find. Anything else goes the full way.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from zoo import atomic, manifest_sources, settings
from zoo.cache import Cache

MAX_ENTRIES = 64


def _memo(cache: Cache) -> Path:
    return cache.root / "index" / "hits.json"


def _key(name: str, target: str, strict: bool) -> str:
    override = os.environ.get("ZOO_TARGET", "").strip()
    detected = []
    if target == "auto" and not override:
        from zoo.detect import detect

        detected = detect().targets
    return json.dumps([name, target, override, detected, strict, os.fspath(settings.cache_dir()), manifest_sources.fingerprint()])


def _read(path: Path) -> dict:
    try:
        memo = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return memo if isinstance(memo, dict) else {}


def lookup(name: str, target: str = "auto", strict: bool = False) -> tuple[str, list[str]] | None:
    """(path, warnings the full resolution printed) if the remembered hit still holds, else None."""
    cache = Cache(settings.cache_dir())
    entry = _read(_memo(cache)).get(_key(name, target, strict))
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str) or not isinstance(entry.get("sha256"), str):
        return None
    if not cache.unchanged(entry["path"], entry["sha256"]):
        return None
    return entry["path"], [w for w in entry.get("warnings", []) if isinstance(w, str)]


def remember(name: str, target: str, strict: bool, path: Path, sha256: str, warnings: list[str]) -> None:
    """Keep a finished resolution for `lookup` (the newest MAX_ENTRIES); a read-only cache just skips it."""
    cache = Cache(settings.cache_dir())
    memo_path = _memo(cache)
    memo = _read(memo_path)
    key = _key(name, target, strict)
    memo.pop(key, None)
    memo[key] = {"path": os.fspath(path), "sha256": sha256, "warnings": warnings}
    memo = dict(list(memo.items())[-MAX_ENTRIES:])
    try:
        memo_path.parent.mkdir(exist_ok=True)
        atomic.write(memo_path, json.dumps(memo))
    except OSError:
        pass
