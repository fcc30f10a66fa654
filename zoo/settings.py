"""ZOO_* environment settings, read when used (never cached at import) so tests just set the environment."""

from __future__ import annotations

import os
from pathlib import Path


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


def manifest_paths() -> list[Path]:
    """Extra manifest files or directories from ZOO_MANIFESTS (os.pathsep-separated)."""
    raw = os.environ.get("ZOO_MANIFESTS", "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p]


def debug() -> bool:
    """ZOO_DEBUG=1 shows tracebacks for known errors."""
    return _flag("ZOO_DEBUG")


def cache_dir() -> Path:
    """ZOO_CACHE_DIR, else the user cache dir (e.g. ~/.cache/zoo)."""
    raw = os.environ.get("ZOO_CACHE_DIR", "").strip()
    if raw:
        return Path(raw).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("zoo", appauthor=False))


def offline() -> bool:
    """ZOO_OFFLINE=1: never touch the network."""
    return _flag("ZOO_OFFLINE")


def target() -> str | None:
    """ZOO_TARGET overrides target='auto'."""
    return os.environ.get("ZOO_TARGET", "").strip() or None


def mirrors() -> list[str]:
    """ZOO_MIRRORS: URL prefixes (whitespace-separated) tried before a manifest's sources, as <prefix>/<model>/<file>."""
    return [m.rstrip("/") for m in os.environ.get("ZOO_MIRRORS", "").split()]


def retry_backoff() -> float:
    """ZOO_RETRY_BACKOFF: first retry delay in seconds (doubles each retry)."""
    return _float("ZOO_RETRY_BACKOFF", 1.0)


def timeouts() -> tuple[float, float]:
    """ZOO_CONNECT_TIMEOUT and ZOO_READ_TIMEOUT in seconds."""
    return _float("ZOO_CONNECT_TIMEOUT", 10.0), _float("ZOO_READ_TIMEOUT", 60.0)


def lock_timeout() -> float:
    """ZOO_LOCK_TIMEOUT: how long to wait for another process fetching the same file."""
    return _float("ZOO_LOCK_TIMEOUT", 600.0)


def max_unsized_download() -> int:
    """ZOO_MAX_DOWNLOAD_MB: cap for files whose size the manifest does not know."""
    return int(_float("ZOO_MAX_DOWNLOAD_MB", 2048) * 1024 * 1024)


def hf_endpoint() -> str | None:
    """HF_ENDPOINT, read when an hf:// source is used."""
    return os.environ.get("HF_ENDPOINT") or None
