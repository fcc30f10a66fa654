"""Finding and loading manifests: the bundled ones, then ZOO_MANIFESTS (a user's own zoo)."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path

from zoo import atomic, manifest, settings
from zoo import manifest_sources
from zoo.manifest_sources import bundled_dir
from zoo.errors import ManifestInvalid, ModelNotFound
from zoo.hashes import StatKey
from zoo.manifest import Manifest

def manifest_files(path: Path) -> list[Path]:
    """The manifest files a path names: the YAML files of a folder, or the path itself."""
    return [Path(p) for p, _ in manifest_sources.scan(path) or []] if path.is_dir() else [path]


_parsed: dict[Path, tuple[StatKey, Manifest | ManifestInvalid]] = {}
_last: list = [None, None]


def _load_file(path: Path, key: StatKey) -> Manifest:
    """manifest.load, remembered per file until its size, mtime or inode changes."""
    hit = _parsed.get(path)
    if hit is None or hit[0] != key:
        try:
            hit = (key, manifest.load(path))
        except ManifestInvalid as e:
            hit = (key, e)
        _parsed[path] = hit
    if isinstance(hit[1], ManifestInvalid):
        raise hit[1]
    return hit[1]


@dataclass(frozen=True)
class Entry:
    manifest: Manifest
    path: Path
    bundled: bool


@dataclass
class Catalog:
    """Valid manifests by name, plus what went wrong loading the others."""

    entries: dict[str, Entry] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    problems: list[ManifestInvalid] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    fingerprint: manifest_sources.Fingerprint = ()  # the manifest files it was loaded from, by stat
    _overrides: dict[str, list[str]] = field(default_factory=dict)

    def overrides(self, name: str) -> list[str]:
        """The warnings that `name` (a real name, not an alias) is defined by a file overriding another one."""
        return self._overrides.get(name, [])

    def entry(self, name: str) -> Entry:
        """The entry for a name or alias; ModelNotFound lists what exists."""
        key = name.strip().lower()
        real = key if key in self.entries else self.aliases.get(key)
        if real is None:
            known = ", ".join(sorted(self.entries)) or "none"
            hint = f"known models: {known}"
            if self.problems:
                hint += f"; {len(self.problems)} manifest(s) failed to load (run `zoo validate`)"
            raise ModelNotFound(f"no model named {name!r}", hint)
        return self.entries[real]

    def get(self, name: str) -> Manifest:
        return self.entry(name).manifest

    def names(self, include: str | None = None, exclude: str | None = None) -> list[str]:
        """Model names, optionally filtered by glob patterns."""
        out = sorted(self.entries)
        if include:
            out = [n for n in out if fnmatch.fnmatchcase(n, include)]
        if exclude:
            out = [n for n in out if not fnmatch.fnmatchcase(n, exclude)]
        return out

    def _add(self, m: Manifest, path: Path, kind: str) -> None:
        old = self.entries.get(m.name)
        if old is not None and old.manifest != m:
            why = " (the copy --record keeps for an installed package)" if kind == "records" else ""
            warning = f"{path}: model {m.name!r} overrides the one in {old.path}{why}"
            self.warnings.append(warning)
            self._overrides.setdefault(m.name, []).append(warning)
        if old is not None:
            self.aliases = {a: n for a, n in self.aliases.items() if n != m.name}
        self.entries[m.name] = Entry(m, path, kind == "bundled")
        for alias in m.aliases:
            owner = self.aliases.get(alias, alias if alias in self.entries and alias != m.name else None)
            if owner is not None and owner != m.name:
                self.warnings.append(f"{path}: alias {alias!r} of {m.name!r} already names {owner!r}; ignored")
                continue
            self.aliases[alias] = m.name


def load(extra: list[Path] | None = None) -> Catalog:
    """Load the bundled manifests, then `extra` (default: ZOO_MANIFESTS); later ones override earlier ones.

    The result is reused while no manifest file was added, removed or changed (checked by stat each call).
    """
    roots = manifest_sources.sources(extra)
    if _last[0] == roots and manifest_sources.current(_last[1].fingerprint):
        return _last[1]
    catalog = Catalog(fingerprint=manifest_sources.fingerprint([root for root, _ in roots]))
    for (root, kind), (_, _, scan) in zip(roots, catalog.fingerprint):
        if scan is None:
            if kind == "user":
                catalog.warnings.append(f"{root}: manifest path does not exist")
            continue
        for name, key in scan:
            path = Path(name)
            try:
                catalog._add(_load_file(path, key), path, kind)
            except ManifestInvalid as e:
                catalog.problems.append(e)
    _last[:] = [roots, catalog]
    return catalog


def installed() -> bool:
    """True when the bundled manifests are the copies inside an installed package (not a development checkout)."""
    return bundled_dir() == Path(__file__).resolve().parent / "manifests"


def record_path(name: str) -> Path:
    """The manifest file `--record` may edit for `name`: the file itself, unless it belongs to an installed package
    (an upgrade would overwrite the record): then a copy in settings.records_dir(), which the catalog reads after
    the bundled ones."""
    entry = load().entry(name)
    if not (entry.bundled and installed()):
        return entry.path
    copy = settings.records_dir() / entry.path.name
    if not copy.exists():
        copy.parent.mkdir(parents=True, exist_ok=True)
        atomic.write(copy, entry.path.read_bytes())
    return copy


def models(include: str | None = None, exclude: str | None = None) -> list[str]:
    """Names of the models in the catalog, filtered by optional glob patterns."""
    return load().names(include, exclude)


def get(name: str) -> Manifest:
    """The validated manifest for a model name or alias."""
    return load().get(name)
