"""Pure decision: (manifest, requested target, detected targets) -> artifact. No I/O."""

from __future__ import annotations

from dataclasses import dataclass, field

from zoo.errors import install_extra, ArtifactUnavailable
from zoo.manifest import Artifact, Manifest
from zoo.targets import get_target


@dataclass(frozen=True)
class Choice:
    artifact: Artifact
    target: str
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def compiled_parent(m: Manifest, a: Artifact) -> Artifact | None:
    """The other artifact a `build: true` artifact of a target with a deterministic compiler is compiled from, if any."""
    if not (a.build and get_target(a.target).compiler):
        return None
    return next((x for x in m.artifacts if x.id == a.parent and x.id != a.id), None)


def rebuildable(m: Manifest, a: Artifact) -> bool:
    """A pinned artifact compiled from a published parent: building it from the parent gives the pinned bytes, so it
    is as good as a download."""
    parent = compiled_parent(m, a)
    return bool(a.sha256 and parent is not None and parent.published)


def rebuild_hint(m: Manifest, a: Artifact) -> str:
    target = get_target(a.target)
    return (f"it can be built here from its published parent {a.parent!r} and checked against its pin: "
            f"zoo fetch {m.name} --target {a.target} --build (needs {target.compiler}: {install_extra(a.target)})")


def published_artifact(m: Manifest, target: str) -> Artifact | None:
    """The target's published artifact: the one marked default if published, else the first published."""
    published = [a for a in m.artifacts if a.target == target and a.published]
    return next((a for a in published if a.default), published[0] if published else None)


def _has(m: Manifest) -> str:
    return ", ".join(f"{t}{'' if t in m.published_targets else ' (unpublished)'}" for t in m.targets) or "none"


def _obtainable(m: Manifest, target: str, rebuilt: frozenset[str]) -> Artifact | None:
    return next((a for a in m.artifacts if a.target == target and a.id in rebuilt and rebuildable(m, a)), None)


def choose(m: Manifest, requested: str, detected: list[str], strict: bool = False,
           rebuilt: frozenset[str] = frozenset()) -> Choice:
    """Pick the artifact for `requested` ('auto' walks `detected`, best first, then each one's fallbacks).

    `rebuilt`: ids of unpublished, `rebuildable` artifacts that count as available (with --build, or once rebuilt
    into the cache)."""
    if requested == "auto":
        return _auto(m, detected, rebuilt)
    target = get_target(requested)
    if requested not in m.targets:
        raise ArtifactUnavailable(f"{m.name} has no artifact for target {requested!r}", f"it has: {_has(m)}")
    direct = published_artifact(m, requested)
    if direct is not None:
        return Choice(direct, requested, [f"target {requested!r} was requested and {direct.id!r} is published for it"])
    pending = _obtainable(m, requested, rebuilt)
    if pending is not None:
        return Choice(pending, requested, [f"target {requested!r} was requested; {pending.id!r} is not published but is "
                                           f"rebuilt from {pending.parent!r} and verified against its pin"])
    pending = next((a for a in m.artifacts if a.target == requested and rebuildable(m, a)),
                   next(a for a in m.artifacts if a.target == requested))
    note = f"{m.name}'s {requested} artifact {pending.id!r} is not published yet ({pending.unpublished})"
    if rebuildable(m, pending):
        note += f"; {rebuild_hint(m, pending)}"
    if strict:
        raise ArtifactUnavailable(note, "drop --strict to fall back along " + " -> ".join(target.chain()))
    for fallback in target.chain()[1:]:
        a = published_artifact(m, fallback)
        if a is not None:
            return Choice(a, fallback, [f"target {requested!r} was requested", f"{note}; fell back to {fallback!r}"],
                          [f"{note}; using the {fallback} artifact {a.id!r} instead"])
    raise ArtifactUnavailable(f"{note} and nothing along {' -> '.join(target.chain())} is published", f"it has: {_has(m)}")


def _auto(m: Manifest, detected: list[str], rebuilt: frozenset[str]) -> Choice:
    reasons = [f"detected targets, best first: {', '.join(detected)}"]
    candidates = list(dict.fromkeys([*detected, *(t for d in detected for t in get_target(d).chain())]))
    for candidate in candidates:
        a = published_artifact(m, candidate) or _obtainable(m, candidate, rebuilt)
        if a is not None:
            reasons.append(f"{candidate!r} is the first of them {m.name} has a published artifact for: {a.id!r}")
            return Choice(a, candidate, reasons)
        reasons.append(f"{m.name} has no published artifact for {candidate!r}")
    raise ArtifactUnavailable(f"{m.name} has no published artifact for any usable target ({', '.join(candidates)})",
                              f"it has: {_has(m)}")
