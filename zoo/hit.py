"""Remembered resolutions: a cache hit answered again without the catalog, the choice or pydantic.

A resolution is remembered under everything that decided it (the name as asked, the target, strictness, --build,
the cache folder, the environment settings.deciding() names and, for 'auto', the detected targets: a Request) together with
what it relied on: the manifest files (by stat), the chosen file (by the stat record the cache wrote when it
verified the bytes) and the cache paths of rebuildable artifacts that would count had they been cached. It is
answered again only while all of that holds, so a remembered hit is exactly the hit the full path would find.

zoo.resolve keeps them in this process (its warm path); they are also kept in a small JSON file in the cache, which
the `zoo fetch` fast path of a fresh process reads before anything heavy is imported.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass

from zoo import manifest_sources, memo, settings
from zoo.cache import Cache
from zoo.targets import COMPILERS

MAX_ENTRIES = 64
MEMO = "hits.json"
MAX_MEMO_BYTES = 1 << 20


@dataclass(frozen=True)
class Hit:
    path: str
    sha256: str
    warnings: tuple[str, ...]
    manifests: manifest_sources.Fingerprint
    absent: tuple[str, ...]  # cache paths that must stay absent (an artifact appearing there could change the choice)
    missing: tuple[str, ...] = ()  # compilers that were not installed (installing one could change the choice)

    def holds(self, cache: Cache) -> bool:
        return (manifest_sources.current(self.manifests) and cache.unchanged(self.path, self.sha256)
                and not any(map(os.path.lexists, self.absent))
                and not any(COMPILERS[c].installed() for c in self.missing))


@dataclass(frozen=True)
class Request:
    """Everything that decides a resolution besides the files it relies on: the name and target as asked, the target
    decided (ZOO_TARGET overrides 'auto'), the targets detected for 'auto', strictness, --build, the cache folder asked
    for, and the environment settings.deciding() names. Its key is what a resolution is remembered under."""

    name: str
    asked: str
    target: str
    detected: tuple[str, ...]
    strict: bool = False
    build: bool = False
    cache_dir: str | None = None
    environment: tuple[str | None, ...] = ()
    device: str | None = None  # for 'auto': the device identity its latency records are matched by

    @classmethod
    def of(cls, name: str, target: str = "auto", *, strict: bool = False, build: bool = False,
           cache_dir: str | os.PathLike | None = None, root: str | os.PathLike = "/") -> Request:
        decided = settings.target() or "auto" if target == "auto" else target
        detected: tuple[str, ...] = ()
        device = None
        if decided == "auto":
            from zoo.devices import detect  # only here: a named target's cold hit never needs it

            found = detect(root)
            detected, device = tuple(found.targets), found.device
        return cls(name, target, decided, detected, strict, build, None if cache_dir is None else os.fspath(cache_dir),
                   settings.deciding(), device)

    @functools.cached_property
    def key(self) -> str:
        return json.dumps([self.name, self.asked, self.target, self.detected, self.strict, self.build, self.cache_dir,
                           self.environment, self.device])


_memory: dict[str, tuple[Hit, object, Cache]] = {}  # key -> (hit, what resolve returned, the cache)


def warm(request: Request):
    """What zoo.resolve returned for `request` in this process, if its hit still holds."""
    found = _memory.get(request.key)
    return found[1] if found is not None and found[0].holds(found[2]) else None


def remember(request: Request, hit: Hit, resolved: object, cache: Cache) -> None:
    """Keep a finished resolution here and in the cache's memo (the newest MAX_ENTRIES); a read-only cache skips it.
    A memo zoo cannot read is replaced."""
    k = request.key
    _memory.pop(k, None)
    _memory[k] = (hit, resolved, cache)
    while len(_memory) > MAX_ENTRIES:
        _memory.pop(next(iter(_memory)), None)
    found = memo.read(memo.path(cache, MEMO), MAX_MEMO_BYTES)
    found.pop(k, None)
    found[k] = {"path": hit.path, "sha256": hit.sha256, "warnings": hit.warnings, "manifests": hit.manifests,
                "absent": hit.absent, "missing": hit.missing}
    memo.write(cache, MEMO, dict(list(found.items())[-MAX_ENTRIES:]))


def lookup(name: str, target: str = "auto") -> Hit | None:
    """The remembered hit of a plain `zoo fetch NAME [-t TARGET]` in a fresh process, if it still holds."""
    settings.offline()  # a value the full path would refuse is not answered here either
    cache = Cache(settings.cache_dir())
    entry = memo.read(memo.path(cache, MEMO), MAX_MEMO_BYTES).get(Request.of(name, target).key)
    try:
        hit = Hit(entry["path"], entry["sha256"], tuple(entry["warnings"]), _fingerprint(entry["manifests"]),
                  tuple(entry["absent"]), tuple(entry["missing"]))
    except (TypeError, KeyError, ValueError, OverflowError):
        return None  # no entry, or not one this version wrote
    if not all(isinstance(s, str) for s in (hit.path, hit.sha256, *hit.warnings, *hit.absent)) or \
            not all(c in COMPILERS for c in hit.missing):
        return None
    return hit if hit.holds(cache) else None


def _fingerprint(raw: list) -> manifest_sources.Fingerprint:
    """A fingerprint back from JSON (its stat keys were tuples)."""
    def stat(k):
        return None if k is None else tuple(int(n) for n in k)

    return tuple((str(top), stat(k), None if files is None else [(str(p), stat(fk)) for p, fk in files])
                 for top, k, files in raw)


