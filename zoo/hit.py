"""Remembered resolutions: a cache hit answered again without the catalog, the choice or pydantic.

A resolution is remembered under everything that decided it (the name as asked, the target, strictness, --build,
the cache folder, the environment settings.deciding() names and, for 'auto', the detected targets: a Request) together with
what it relied on: the manifest files (by stat), the chosen file (by the stat record the cache wrote when it
verified the bytes) and the cache paths of rebuildable artifacts that would count had they been cached. It is
answered again only while all of that holds, so a remembered hit is exactly the hit the full path would find.

zoo.resolve keeps them in this process (its warm path, where a watch of the manifest files, zoo/watch.py, stands in
for a stat of each while nothing changed); they are also kept in a small JSON file in the cache, which
the `zoo fetch` fast path of a fresh process reads before anything heavy is imported.
"""

from __future__ import annotations

import functools
import json
import os
import re
import time
from dataclasses import dataclass

from zoo import manifest_sources, memo, settings, watch
from zoo.cache import Cache, read_record
from zoo.hashes import blob_key, stat_key
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
    defined_by: str = ""  # the manifest file that defines the model (a fresh process confirms the hit by it)

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


class _Warm:
    """A hit kept in this process, and what makes checking it cheap: a mark of the manifest files' watch (so only
    the folders are stat'ed while nothing changed), the stat keys of the chosen file and of its record as last
    verified (so the record is read again only when it changed), and when the record was last marked as used."""

    __slots__ = ("hit", "resolved", "cache", "since", "record", "record_key", "view_key", "touched")

    def __init__(self, hit: Hit, resolved: object, cache: Cache) -> None:
        self.hit, self.resolved, self.cache = hit, resolved, cache
        self.since = self.record_key = self.view_key = None
        self.touched = -TOUCH_EVERY
        self.record = cache.record_path(hit.sha256)

    def holds(self) -> bool:
        hit = self.hit
        return (self._manifests_current() and self._file_unchanged()
                and not any(map(os.path.lexists, hit.absent))
                and not any(COMPILERS[c].installed() for c in hit.missing))

    def _manifests_current(self) -> bool:
        fp = self.hit.manifests
        if self.since is not None and watch.quiet(self.since) and all(stat_key(top) == key for top, key, _ in fp):
            return True
        since = watch.mark([p for top, _, files in fp for p in (top, *(path for path, _ in files or ()))])
        if not manifest_sources.current(fp):  # after mark: a change from now on is an event
            return False
        self.since = since
        return True

    def _file_unchanged(self) -> bool:
        if (time.monotonic() - self.touched < TOUCH_EVERY and stat_key(self.record) == self.record_key
                and self.record_key is not None and blob_key(self.hit.path) == self.view_key):
            return True
        if not self.cache.unchanged(self.hit.path, self.hit.sha256):  # reads the record, marks it used
            self.record_key = None
            return False
        self.record_key = stat_key(self.record)  # before its content: a record rewritten meanwhile fails the next check
        self.view_key = read_record(self.record)
        self.touched = time.monotonic()
        return True


# How often a warm hit marks its record as used (the record's mtime is the file's last use, for `zoo cache prune`).
TOUCH_EVERY = 60.0

_memory: dict[Request, _Warm] = {}


def warm(request: Request):
    """What zoo.resolve returned for `request` in this process, if its hit still holds."""
    found = _memory.get(request)
    return found.resolved if found is not None and found.holds() else None


def remember(request: Request, hit: Hit, resolved: object, cache: Cache) -> None:
    """Keep a finished resolution here and in the cache's memo (the newest MAX_ENTRIES); a read-only cache skips it.
    A memo zoo cannot read is replaced."""
    _memory.pop(request, None)
    _memory[request] = _Warm(hit, resolved, cache)
    while len(_memory) > MAX_ENTRIES:
        _memory.pop(next(iter(_memory)), None)
    k = request.key
    found = memo.read(memo.path(cache, MEMO), MAX_MEMO_BYTES)
    found.pop(k, None)
    found[k] = {"path": hit.path, "sha256": hit.sha256, "warnings": hit.warnings, "manifests": hit.manifests,
                "absent": hit.absent, "missing": hit.missing, "defined_by": hit.defined_by}
    memo.write(cache, MEMO, dict(list(found.items())[-MAX_ENTRIES:]))


def lookup(name: str, target: str = "auto") -> Hit | None:
    """The remembered hit of a plain `zoo fetch NAME [-t TARGET]` in a fresh process, if it still holds."""
    settings.offline()  # a value the full path would refuse is not answered here either
    cache = Cache(settings.cache_dir())
    entry = memo.read(memo.path(cache, MEMO), MAX_MEMO_BYTES).get(Request.of(name, target).key)
    try:
        hit = Hit(entry["path"], entry["sha256"], tuple(entry["warnings"]), _fingerprint(entry["manifests"]),
                  tuple(entry["absent"]), tuple(entry["missing"]), entry["defined_by"])
    except (TypeError, KeyError, ValueError, OverflowError):
        return None  # no entry, or not one this version wrote
    if not all(isinstance(s, str) for s in (hit.path, hit.sha256, hit.defined_by, *hit.warnings, *hit.absent)) or \
            not all(c in COMPILERS for c in hit.missing):
        return None
    return hit if hit.holds(cache) and _pinned_by(hit, name, cache) else None


_NAME = re.compile(r"^name:[ \t]*([a-z0-9][a-z0-9.-]*)[ \t]*$", re.M)
_ALIASES = re.compile(r"^aliases:[ \t]*\[([^\]\n]*)\]", re.M)


def _pinned_by(hit: Hit, asked: str, cache: Cache) -> bool:
    """The memo is the cache's, and a planted entry could answer with another model's file: the hit holds only if the
    manifest file it names is one of the fingerprint's (so checked by stat above) and, read as text, names the model
    asked for (its name, or an alias in a one-line list), pins the file's sha256 and owns the view the hit points at.
    Anything it cannot confirm so (md5-only pins, aliases written as a block) takes the full path instead."""
    if not any(hit.defined_by == p for _, _, files in hit.manifests for p, _ in files or ()):
        return False
    data = memo.read_bytes(hit.defined_by, MAX_MEMO_BYTES, follow=True)  # a manifest may be a link the user made
    text = data.decode("utf-8", "replace") if data is not None else ""
    found = _NAME.search(text)
    if found is None or hit.sha256 not in text:
        return False
    name = found.group(1)
    aliases = _ALIASES.search(text)
    if asked != name and not (aliases and asked in (a.strip().strip("'\"") for a in aliases.group(1).split(","))):
        return False
    return hit.path.startswith(os.path.join(os.fspath(cache.root), "models", name, ""))


def _fingerprint(raw: list) -> manifest_sources.Fingerprint:
    """A fingerprint back from JSON (its stat keys were tuples)."""
    def stat(k):
        return None if k is None else tuple(int(n) for n in k)

    return tuple((str(top), stat(k), None if files is None else [(str(p), stat(fk)) for p, fk in files])
                 for top, k, files in raw)


