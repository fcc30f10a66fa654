"""Finding and loading manifests: the bundled ones, then ZOO_MANIFESTS (a user's own zoo)."""

from __future__ import annotations

import fnmatch
import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

from zoo import manifest, settings
from zoo.errors import ManifestInvalid, ModelNotFound
from zoo.manifest import Manifest

_SUFFIXES = (".yaml", ".yml")


@functools.lru_cache(maxsize=1)
def bundled_dir() -> Path:
    """Manifests shipped with zoo: inside the installed package, or the checkout's top-level folder."""
    here = Path(__file__).resolve().parent
    packaged = here / "manifests"
    return packaged if packaged.is_dir() else here.parent / "manifests"


StatKey = tuple[int, int, int]


def _scan(root: Path) -> list[tuple[str, StatKey]] | None:
    """Manifest files under `root` (a folder or one file) with their stat keys; None if it does not exist.

    Plain strings, not Paths: this runs on every resolve() and must stay cheap.
    """
    top = os.fspath(root)
    try:
        with os.scandir(top) as it:
            found = sorted((e.path, e.stat()) for e in it if e.name.endswith(_SUFFIXES) and e.is_file())
    except NotADirectoryError:
        found = [(top, os.stat(top))]
    except FileNotFoundError:
        return None
    return [(path, (st.st_size, st.st_mtime_ns, st.st_ino)) for path, st in found]


def manifest_files(path: Path) -> list[Path]:
    """The manifest files a path names: the YAML files of a folder, or the path itself."""
    return [Path(p) for p, _ in _scan(path) or []] if path.is_dir() else [path]


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

    def _add(self, m: Manifest, path: Path, bundled: bool) -> None:
        old = self.entries.get(m.name)
        if old is not None:
            self.warnings.append(f"{path}: model {m.name!r} overrides the one in {old.path}")
            self.aliases = {a: n for a, n in self.aliases.items() if n != m.name}
        self.entries[m.name] = Entry(m, path, bundled)
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
    sources = [(bundled_dir(), True)] + [(p, False) for p in (settings.manifest_paths() if extra is None else extra)]
    scans = [(root, bundled, _scan(root)) for root, bundled in sources]
    fingerprint = [(os.fspath(root), scan) for root, _, scan in scans]
    if _last[0] == fingerprint:
        return _last[1]
    catalog = Catalog()
    for root, bundled, scan in scans:
        if scan is None:
            catalog.warnings.append(f"{root}: manifest path does not exist")
            continue
        for name, key in scan:
            path = Path(name)
            try:
                catalog._add(_load_file(path, key), path, bundled)
            except ManifestInvalid as e:
                catalog.problems.append(e)
    _last[:] = [fingerprint, catalog]
    return catalog


def models(include: str | None = None, exclude: str | None = None) -> list[str]:
    """Names of the models in the catalog, filtered by optional glob patterns."""
    return load().names(include, exclude)


def get(name: str) -> Manifest:
    """The validated manifest for a model name or alias."""
    return load().get(name)
