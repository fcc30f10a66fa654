"""ZOO_* environment settings, read when used (never cached at import) so tests just set the environment."""

from __future__ import annotations

import os
from pathlib import Path


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def manifest_paths() -> list[Path]:
    """Extra manifest files or directories from ZOO_MANIFESTS (os.pathsep-separated)."""
    raw = os.environ.get("ZOO_MANIFESTS", "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p]


def debug() -> bool:
    """ZOO_DEBUG=1 shows tracebacks for known errors."""
    return _flag("ZOO_DEBUG")
