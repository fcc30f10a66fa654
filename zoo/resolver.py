"""Resolve a model to a verified local file: decide (choice.py), then act (obtain.py, cache.py).

A cache hit touches neither the network nor requests: download and huggingface_hub load only on a miss.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from zoo import atomic, catalog, hit, settings
from zoo.cache import Cache
from zoo.choice import choose, compilers_for, pick, rebuildable, unhosted
from zoo.errors import FetchFailed
from zoo.manifest import Artifact, Manifest
from zoo.obtain import cached, obtain, obtain_unhosted
from zoo.progress import Progress, StderrProgress
from zoo.targets import COMPILERS


@dataclass(frozen=True)
class Resolved:
    """A verified local artifact; usable wherever a path is (os.fspath, open, str)."""

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

    def __str__(self) -> str:
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
    `name` may be NAME/ARTIFACT for one artifact by id (its own target, whatever is detected).

    ZOO_TARGET overrides 'auto'; ZOO_OFFLINE=1 (or offline=True) never touches the network. With `build`, a pinned
    artifact nobody hosts yet is compiled from its published parent and admitted only if it matches its pin.
    """
    request = hit.Request.of(name, target, strict=strict, build=build, cache_dir=cache_dir, root=root)
    progress = progress or (StderrProgress(bar=False) if explain else Progress())
    offline = settings.offline() if offline is None else offline
    resolved = hit.warm(request)
    if resolved is None:
        resolved = _resolve(request, Cache(Path(cache_dir) if cache_dir else settings.cache_dir()), offline, progress)
    else:
        for warning in resolved.warnings:
            progress.message(warning)
    if explain:
        for line in resolved.explanation:
            progress.note(f"explain: {line}")
    return resolved


def _resolve(request: hit.Request, cache: Cache, offline: bool, progress: Progress) -> Resolved:
    """The full path: load the catalog, choose, obtain or rebuild; then remember the hit."""
    manifests = catalog.load()
    name, _, wanted = request.name.partition("/")
    m = manifests.get(name)
    overrides = tuple(manifests.overrides(m.name))
    candidates = [a for a in m.artifacts if rebuildable(m, a)]
    may_build = settings.build_on_fetch()
    needs = {a.id: compilers_for(m, a) for a in candidates}
    installed = {c: may_build and COMPILERS[c].installed() for c in set().union(*needs.values())}
    rebuilt = frozenset(a.id for a in candidates if request.build or all(installed[c] for c in needs[a.id])
                        or cached(m.name, a, cache))
    pinned = unhosted(m)
    mirrors = not offline and bool(pinned) and bool(settings.mirrors())
    fetchable = frozenset(a.id for a in pinned if mirrors or cached(m.name, a, cache))
    held = frozenset() if may_build else frozenset(
        a.id for a in candidates if a.id not in rebuilt and all(COMPILERS[c].installed() for c in needs[a.id]))

    def decide(fetchable: frozenset[str]):
        return pick(m, wanted, request.asked, rebuilt, fetchable, held=held) if wanted else \
            choose(m, request.target, list(request.detected), request.strict, rebuilt, request.device, fetchable,
                   held=held)

    for warning in overrides:
        progress.message(warning)
    missed: list[str] = []
    while True:
        choice = decide(fetchable)
        warnings = (*overrides, *missed, *choice.warnings)
        for warning in choice.warnings:
            progress.message(warning)
        a = choice.artifact
        try:
            path, sha256 = _obtain(m, a, a.id in rebuilt, cache, offline, progress)
            break
        except FetchFailed as e:  # no mirror has an unhosted file this machine cannot build: choose without it
            if a.published or a.id in rebuilt:
                raise
            missed.append(f"{e.message}; choosing without it")
            progress.message(missed[-1])
            fetchable -= {a.id}
    reasons = [f"ZOO_TARGET={request.target} overrides auto"] if request.target != request.asked else []
    resolved = Resolved(path, sha256, a.size or path.stat().st_size, choice.target, a.delegate, a, m,
                        (*reasons, *choice.reasons), warnings)
    # Offline, a mirror might have given what it would choose online: such an answer is not remembered (nor one a
    # mirror's miss decided), since the full path would ask the mirrors again.
    unsure = frozenset(x.id for x in pinned) - fetchable if offline and settings.mirrors() else frozenset()
    if missed or (unsure and decide(fetchable | unsure).artifact.id != a.id):
        return resolved
    waiting = [x for x in m.artifacts if (x in candidates or x in pinned) and x.id not in rebuilt | fetchable]
    absent = tuple(os.fspath(p) for x in waiting for p in (cache.view(m.name, x.id, x.file), cache.blob(x.sha256)))
    missing = tuple(sorted({c for x in candidates if x.id not in rebuilt for c in needs[x.id]}))
    hit.remember(request, hit.Hit(os.fspath(path), sha256, resolved.warnings, manifests.fingerprint, absent, missing,
                                  os.fspath(manifests.entry(m.name).path)),
                 resolved, cache)
    return resolved


def _obtain(m: Manifest, a: Artifact, buildable: bool, cache: Cache, offline: bool, progress: Progress) -> tuple[Path, str]:
    """The chosen artifact's verified file: downloaded if published; else from the cache or the mirrors, and compiled
    here from its parent when `buildable` and no mirror has it."""
    if a.published:
        return obtain(m.name, a, cache, offline=offline, progress=progress, archives=m.upstream)
    if buildable:
        from zoo.convert.compiled import obtain_artifact

        return obtain_artifact(m, a, cache, offline=offline, progress=progress)
    found = obtain_unhosted(m.name, a, cache, offline=offline, progress=progress)
    if found is None:  # it left the cache since the choice, and no mirror may be asked
        raise FetchFailed(f"{m.name}/{a.id} ({a.file})", [(str(cache.root), "no longer in the cache")])
    return found


def export(resolved: Resolved, dest: Path) -> Path:
    """Copy the resolved file to the file path `dest` (the caller decides it, e.g. from a folder); a copy, so editing it
    cannot touch the cache."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    return atomic.copy(resolved.path, dest)
