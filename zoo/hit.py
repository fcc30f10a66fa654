"""Remembered resolutions: a cache hit answered again without the catalog, the choice or pydantic.

A resolution is remembered under everything that decided it (the name as asked, the target, strictness, --build,
the cache folder, the environment settings.deciding() names and, for 'auto', the detected targets) together with
what it relied on: the manifest files (by stat), the chosen file (by the stat record the cache wrote when it
verified the bytes) and the cache paths of rebuildable artifacts that would count had they been cached. It is
answered again only while all of that holds, so a remembered hit is exactly the hit the full path would find.

zoo.resolve keeps them in this process (its warm path); they are also kept in a small JSON file in the cache, which
the `zoo fetch` fast path of a fresh process reads before anything heavy is imported.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from zoo import atomic, manifest_sources, settings
from zoo.cache import Cache

MAX_ENTRIES = 64


@dataclass(frozen=True)
class Hit:
    path: str
    sha256: str
    warnings: tuple[str, ...]
    manifests: manifest_sources.Fingerprint
    absent: tuple[str, ...]  # cache paths that must stay absent (an artifact appearing there could change the choice)

    def holds(self, cache: Cache) -> bool:
        return (manifest_sources.current(self.manifests) and cache.unchanged(self.path, self.sha256)
                and not any(map(os.path.lexists, self.absent)))


_memory: dict[tuple, tuple[Hit, object, Cache]] = {}  # key -> (hit, what resolve returned, the cache)


def requested(target: str, root: str | os.PathLike = "/") -> tuple[str, list[str]]:
    """The target a resolution is for (ZOO_TARGET overrides 'auto') and, for 'auto', the targets detected under root."""
    if target == "auto":
        target = settings.target() or "auto"
    if target != "auto":
        return target, []
    from zoo.detect import detect  # only here: a named target's cold hit never needs it

    return target, detect(root).targets


def key(name: str, asked: str, target: str, detected: list[str], strict: bool, build: bool,
        cache_dir: str | os.PathLike | None) -> tuple:
    """Everything that decides a resolution besides the files it relied on (the cache folder included)."""
    return (name, asked, target, tuple(detected), strict, build, cache_dir if cache_dir is None else os.fspath(cache_dir),
            settings.deciding())


def warm(k: tuple):
    """What zoo.resolve returned for `k` in this process, if its hit still holds."""
    found = _memory.get(k)
    return found[1] if found is not None and found[0].holds(found[2]) else None


def remember(k: tuple, hit: Hit, resolved: object, cache: Cache) -> None:
    """Keep a finished resolution here and in the cache's memo (the newest MAX_ENTRIES); a read-only cache skips it."""
    _memory.pop(k, None)
    _memory[k] = (hit, resolved, cache)
    while len(_memory) > MAX_ENTRIES:
        _memory.pop(next(iter(_memory)), None)
    memo_path = _memo(cache)
    memo = _read(memo_path)
    text = json.dumps(k)
    memo.pop(text, None)
    memo[text] = {"path": hit.path, "sha256": hit.sha256, "warnings": hit.warnings, "manifests": hit.manifests,
                  "absent": hit.absent}
    try:
        memo_path.parent.mkdir(exist_ok=True)
        atomic.write(memo_path, json.dumps(dict(list(memo.items())[-MAX_ENTRIES:])))
    except OSError:
        pass


def lookup(name: str, target: str = "auto") -> Hit | None:
    """The remembered hit of a plain `zoo fetch NAME [-t TARGET]` in a fresh process, if it still holds."""
    cache = Cache(settings.cache_dir())
    decided, detected = requested(target)
    entry = _read(_memo(cache)).get(json.dumps(key(name, target, decided, detected, False, False, None)))
    try:
        hit = Hit(entry["path"], entry["sha256"], tuple(entry["warnings"]), _fingerprint(entry["manifests"]),
                  tuple(entry["absent"]))
    except (TypeError, KeyError, ValueError):
        return None  # no entry, or not one this version wrote
    if not all(isinstance(s, str) for s in (hit.path, hit.sha256, *hit.warnings, *hit.absent)):
        return None
    return hit if hit.holds(cache) else None


def _fingerprint(raw: list) -> manifest_sources.Fingerprint:
    """A fingerprint back from JSON (its stat keys were tuples)."""
    def stat(k):
        return None if k is None else tuple(int(n) for n in k)

    return tuple((str(top), stat(k), None if files is None else [(str(p), stat(fk)) for p, fk in files])
                 for top, k, files in raw)


def _memo(cache: Cache) -> Path:
    return cache.root / "index" / "hits.json"


def _read(path: Path) -> dict:
    try:
        memo = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return memo if isinstance(memo, dict) else {}
