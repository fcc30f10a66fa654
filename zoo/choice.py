"""Pure decision: (manifest, requested target, detected targets) -> artifact. No I/O."""

from __future__ import annotations

from dataclasses import dataclass, field

from zoo.errors import install_extra, ArtifactUnavailable
from zoo.manifest import Artifact, Manifest
from zoo.targets import COMPILERS, get_target


@dataclass(frozen=True)
class Choice:
    artifact: Artifact
    target: str
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def compiled_parent(m: Manifest, a: Artifact) -> Artifact | None:
    """The other artifact a `build: true` artifact is made from by a deterministic compiler, if any."""
    if not (a.build and a.compiler is not None and a.compiler.reproducible):
        return None
    return next((x for x in m.artifacts if x.id == a.parent and x.id != a.id), None)


def rebuildable(m: Manifest, a: Artifact) -> bool:
    """A pinned artifact compiled from a published parent, or from a parent that is itself rebuildable: building it
    gives the pinned bytes, so it is as good as a download. A chain that comes back on itself never is (validation
    refuses one; a manifest object made without it must not recurse)."""
    seen = set()
    while a.sha256 and a.id not in seen:
        seen.add(a.id)
        parent = compiled_parent(m, a)
        if parent is None:
            return False
        if parent.published:
            return True
        a = parent
    return False


def makers(m: Manifest, a: Artifact) -> list[Artifact]:
    """The unpublished artifacts to build, parents first, to obtain a rebuildable `a`."""
    chain = []
    while a is not None and not a.published and all(a.id != x.id for x in chain):
        chain.insert(0, a)
        a = compiled_parent(m, a)
    return chain


def compilers_for(m: Manifest, a: Artifact) -> set[str]:
    """The compilers a rebuild of `a` runs (its own, and its unpublished parents')."""
    return {x.compiler.name for x in makers(m, a)}


def published_artifact(m: Manifest, target: str) -> Artifact | None:
    """The target's published artifact: the one marked default if published, else the first published."""
    published = [a for a in m.artifacts if a.target == target and a.published]
    return next((a for a in published if a.default), published[0] if published else None)


def _has(m: Manifest) -> str:
    """The model's targets, marked as `zoo list` marks them: pinned files built on fetch, or not published."""
    def mark(t: str) -> str:
        if t in m.published_targets:
            return ""
        return " (built on fetch)" if any(rebuildable(m, a) for a in m.artifacts if a.target == t) else " (unpublished)"
    return ", ".join(f"{t}{mark(t)}" for t in m.targets) or "none"


def unhosted(m: Manifest) -> list[Artifact]:
    """The pinned derived artifacts (`build: true`) no manifest source hosts: a mirror or the cache can still give
    them, verified by pin. (Another unpublished artifact, one withdrawn say, is never taken even if pinned.)"""
    return [a for a in m.artifacts if a.build and not a.published and a.sha256]


def _usable(m: Manifest, a: Artifact, rebuilt: frozenset[str], fetchable: frozenset[str]) -> bool:
    return (a.id in rebuilt and rebuildable(m, a)) or (a.id in fetchable and a in unhosted(m))


def _obtainable(m: Manifest, target: str, rebuilt: frozenset[str], fetchable: frozenset[str]) -> Artifact | None:
    return next((a for a in m.artifacts if a.target == target and _usable(m, a, rebuilt, fetchable)), None)


def _unhosted(m: Manifest, a: Artifact, rebuilt: frozenset[str], fetchable: frozenset[str]) -> str:
    """How an unhosted artifact is had, after its subject: "is not hosted but is ..."."""
    mirrors = "fetched from the cache or the mirrors (ZOO_MIRRORS)" if a.id in fetchable else ""
    built = f"built from {a.parent!r}" if a.id in rebuilt and rebuildable(m, a) else ""
    return f"is not hosted but is {', else '.join(filter(None, (mirrors, built)))} and verified against its pin"


def choose(m: Manifest, requested: str, detected: list[str], strict: bool = False,
           rebuilt: frozenset[str] = frozenset(), device: str | None = None,
           fetchable: frozenset[str] = frozenset(), *, held: frozenset[str] = frozenset()) -> Choice:
    """Pick the artifact for `requested` ('auto' walks `detected`, best first, then each one's fallbacks, and prefers
    the lowest latency recorded for `device`, see _by_latency).

    `rebuilt`: ids of unpublished, `rebuildable` artifacts that count as available (their compiler is installed, or
    --build, or they were rebuilt into the cache already). `fetchable`: ids of `unhosted` artifacts a mirror or the
    cache may give (the caller chooses again without one that no mirror had). `held`: ids of rebuildable ones whose
    compilers are installed but that ZOO_BUILD_ON_FETCH=0 keeps from being built (said so, rather than to install
    an extra)."""
    if requested == "auto":
        return _auto(m, detected, rebuilt, device, fetchable, held)
    target = get_target(requested)
    if requested not in m.targets:
        raise ArtifactUnavailable(f"{m.name} has no artifact for target {requested!r}", f"it has: {_has(m)}")
    direct = published_artifact(m, requested)
    if direct is not None:
        return Choice(direct, requested, [f"target {requested!r} was requested and {direct.id!r} is published for it"])
    pending = _obtainable(m, requested, rebuilt, fetchable)
    if pending is not None:
        how = _unhosted(m, pending, rebuilt, fetchable)
        return Choice(pending, requested, [f"target {requested!r} was requested; {pending.id!r} {how}"])
    note = _missing(m, requested, held=held)
    if strict:
        raise ArtifactUnavailable(note, "drop --strict to fall back along " + " -> ".join(target.chain()))
    for fallback in target.chain()[1:]:
        a = published_artifact(m, fallback)
        if a is not None:
            return Choice(a, fallback, [f"target {requested!r} was requested", f"{note}; fell back to {fallback!r}"],
                          [f"{note}; using the {fallback} artifact {a.id!r} instead"])
    raise ArtifactUnavailable(f"{note} and nothing along {' -> '.join(target.chain())} is published", f"it has: {_has(m)}")


def pick(m: Manifest, artifact_id: str, target: str, rebuilt: frozenset[str],
         fetchable: frozenset[str] = frozenset(), *, held: frozenset[str] = frozenset()) -> Choice:
    """The artifact asked for by id (NAME/ARTIFACT), if it can be had: published, rebuildable and in `rebuilt`, or
    unhosted and in `fetchable` (see choose)."""
    try:
        a = m.artifact(artifact_id)
    except KeyError:
        raise ArtifactUnavailable(f"{m.name} has no artifact {artifact_id!r}",
                                  f"it has: {', '.join(x.id for x in m.artifacts)}") from None
    if target not in ("auto", a.target):
        raise ArtifactUnavailable(f"{m.name}/{a.id} is a {a.target} artifact, not {target}",
                                  f"drop --target, or ask for {m.name} --target {target}")
    if a.published:
        return Choice(a, a.target, [f"artifact {a.id!r} was requested and is published"])
    if _usable(m, a, rebuilt, fetchable):
        return Choice(a, a.target, [f"artifact {a.id!r} was requested; it {_unhosted(m, a, rebuilt, fetchable)}"])
    raise ArtifactUnavailable(_missing(m, a.target, a, held), "it cannot be fetched here as the manifest stands")


def _missing(m: Manifest, target: str, a: Artifact | None = None, held: frozenset[str] = frozenset()) -> str:
    """Why `target`'s artifact of `m` cannot be used here, in a sentence."""
    mine = [a] if a is not None else [x for x in m.artifacts if x.target == target]
    if not mine:
        return f"{m.name} has no {target} artifact"
    a = next((x for x in mine if rebuildable(m, x)), mine[0])
    if rebuildable(m, a) and a.id in held:
        return (f"{m.name}'s {target} file {a.id!r} is not built here from {a.parent!r} on a fetch, as ZOO_BUILD_ON_FETCH=0 "
                f"(`zoo fetch {m.name}/{a.id} --build` builds it once)")
    if rebuildable(m, a):
        extras = sorted({COMPILERS[c].extra for c in compilers_for(m, a)})
        return (f"{m.name}'s {target} file {a.id!r} is built here from {a.parent!r} once the {' and '.join(extras)} "
                f"extra{'s are' if len(extras) > 1 else ' is'} installed ({install_extra(','.join(extras))}), unless "
                "ZOO_BUILD_ON_FETCH=0")
    return f"{m.name}'s {target} artifact {a.id!r} is not published yet ({a.unpublished})"


def _auto(m: Manifest, detected: list[str], rebuilt: frozenset[str], device: str | None,
          fetchable: frozenset[str], held: frozenset[str] = frozenset()) -> Choice:
    reasons = [f"detected targets, best first: {', '.join(detected)}" + (f" (device: {device})" if device else "")]
    candidates = list(dict.fromkeys([*detected, *(t for d in detected for t in get_target(d).chain())]))
    usable = []
    for candidate in candidates:
        a = published_artifact(m, candidate) or _obtainable(m, candidate, rebuilt, fetchable)
        if a is not None:
            usable.append((candidate, a))
        else:
            reasons.append(_missing(m, candidate, held=held))
    if not usable:
        raise ArtifactUnavailable(f"{m.name} has no published artifact for any usable target ({', '.join(candidates)})",
                                  "; ".join([*reasons[1:], f"it has: {_has(m)}"]))
    target, a = usable[0]
    reasons.append(f"{target!r} is the first of them {m.name} has an artifact for: {a.id!r}")
    faster = _by_latency(m, usable, device)
    if faster is not None:
        target, a = next((t, x) for t, x in usable if t == faster[0])
        reasons.append(f"{target!r} chosen by latency: {faster[1]}")
    warnings = []
    best = detected[0] if detected else "cpu"
    if best != "cpu" and target != best:
        found = get_target(best).title
        why = f"{faster[1]}" if faster is not None and any(t == best for t, _ in usable) else _missing(m, best, held=held)
        warnings.append(f"found the {found}, but {why}; using the {target} artifact {a.id!r}")
    return Choice(a, target, reasons, warnings)


LATENCY_SOURCES = (("measured", "measured on this device"), ("estimated", "estimated"), ("upstream", "published upstream"))


def _by_latency(m: Manifest, usable: list[tuple[str, Artifact]], device: str | None) -> tuple[str, str] | None:
    """(target, why) of the fastest usable artifact by the latencies the manifest records for these very files, in
    order of trust: measured on this device (the identity `zoo detect` reports), then estimated by a compiler, then
    published upstream. The first kind of figure that at least two of them have decides; None when none does."""
    for source, said in LATENCY_SOURCES:
        figures = {}
        for target, a in usable:
            found = [b.latency_ms for b in m.benchmarks if b.applies_to == a.id and b.source == source
                     and (source != "measured" or (device is not None and b.device == device))]
            if found:
                figures[target] = min(found)
        if len(figures) >= 2:
            fastest = min(figures, key=figures.get)
            listed = ", ".join(f"{t} {v:g} ms" for t, v in sorted(figures.items(), key=lambda x: x[1]))
            return fastest, f"the latencies {said} put {fastest} first ({listed})"
    return None
