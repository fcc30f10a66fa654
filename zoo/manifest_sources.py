"""Where manifests come from, and their stat keys: the bundled folder, the records folder, then ZOO_MANIFESTS.

Light on purpose (no pydantic): the catalog uses it to know when to reload, and a cache hit uses it to know
that no manifest changed since the hit was remembered.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from zoo import settings
from zoo.hashes import StatKey, key_of, stat_key

_SUFFIXES = (".yaml", ".yml")


@functools.lru_cache(maxsize=1)
def bundled_dir() -> Path:
    """Manifests shipped with zoo: inside the installed package, or the checkout's top-level folder."""
    here = Path(__file__).resolve().parent
    packaged = here / "manifests"
    return packaged if packaged.is_dir() else here.parent / "manifests"


def scan(root: Path) -> list[tuple[str, StatKey]] | None:
    """Manifest files under `root` (a folder or one file) with their stat keys, as plain strings; None if it does not
    exist."""
    top = os.fspath(root)
    try:
        with os.scandir(top) as it:
            found = sorted((e.path, e.stat()) for e in it if e.name.endswith(_SUFFIXES) and e.is_file())
    except NotADirectoryError:
        found = [(top, os.stat(top))]
    except FileNotFoundError:
        return None
    return [(path, key_of(st)) for path, st in found]


def sources(extra: list[Path] | None = None) -> list[tuple[Path, str]]:
    """(folder or file, kind) in loading order; later ones override earlier ones. kind: bundled, records or user."""
    found = [(bundled_dir(), "bundled")]
    if extra is None:
        return found + [(settings.records_dir(), "records")] + [(p, "user") for p in settings.manifest_paths()]
    return found + [(p, "user") for p in extra]


Fingerprint = tuple  # ((root, its StatKey or None, scan(root)), ...)


def fingerprint(roots: list[Path]) -> Fingerprint:
    """Every manifest file under `roots` with its stat key, and each root's own key (a folder's changes when a file in
    it is added, removed or renamed): equal fingerprints, equal catalogs."""
    out = []
    for root in roots:
        top = os.fspath(root)
        out.append((top, stat_key(top), scan(top)))  # the root first: a file added meanwhile changes its key
    return tuple(out)


def current(fp: Fingerprint) -> bool:
    """True while nothing in `fp` changed, by stat alone (no directory listing): cheap enough for every warm hit."""
    for top, key, files in fp:
        if stat_key(top) != key:
            return False
        for path, file_key in files or ():
            if stat_key(path) != file_key:
                return False
    return True
