"""Where manifests come from, and their stat keys: the bundled folder, the records folder, then ZOO_MANIFESTS.

Light on purpose (no pydantic): the catalog uses it to know when to reload, and a cache hit uses it to know
that no manifest changed since the hit was remembered.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from zoo import settings

_SUFFIXES = (".yaml", ".yml")


@functools.lru_cache(maxsize=1)
def bundled_dir() -> Path:
    """Manifests shipped with zoo: inside the installed package, or the checkout's top-level folder."""
    here = Path(__file__).resolve().parent
    packaged = here / "manifests"
    return packaged if packaged.is_dir() else here.parent / "manifests"


StatKey = tuple[int, int, int]


def scan(root: Path) -> list[tuple[str, StatKey]] | None:
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



def sources(extra: list[Path] | None = None) -> list[tuple[Path, str]]:
    """(folder or file, kind) in loading order; later ones override earlier ones. kind: bundled, records or user."""
    found = [(bundled_dir(), "bundled")]
    if extra is None:
        return found + [(settings.records_dir(), "records")] + [(p, "user") for p in settings.manifest_paths()]
    return found + [(p, "user") for p in extra]


def fingerprint() -> list:
    """Every manifest file zoo would load, with its stat key: equal fingerprints, equal catalogs."""
    return [[os.fspath(root), scan(root)] for root, _ in sources()]
