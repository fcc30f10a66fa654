"""ZOO_* environment settings, read when used (never cached at import) so tests just set the environment."""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path
from urllib.parse import urlsplit

from zoo.errors import SettingInvalid, shown


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"", "0", "false", "no", "off"}


def _flag(name: str) -> bool:
    """A yes/no variable; any other value is SettingInvalid naming it (ZOO_OFFLINE=maybe is not silently online)."""
    raw = os.environ.get(name, "").strip().lower()
    if raw in _TRUE or raw in _FALSE:
        return raw in _TRUE
    raise SettingInvalid(f"{name}={shown(raw, 40)} is neither yes nor no", f"set {name}=1 (or 0), or unset it")


def _float(name: str, default: float, unit: str, minimum: float = 0.0) -> float:
    """A finite number >= `minimum` from the environment; SettingInvalid names the variable otherwise."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < minimum:
        raise SettingInvalid(f"{name}={shown(raw, 40)} is not a valid number of {unit}",
                             f"set {name} to a number >= {minimum:g} (default {default:g}), or unset it")
    return value


def manifest_paths() -> list[Path]:
    """Extra manifest files or directories from ZOO_MANIFESTS (os.pathsep-separated)."""
    raw = os.environ.get("ZOO_MANIFESTS", "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p]


def records_dir() -> Path:
    """ZOO_RECORDS_DIR, else the user data dir's manifests/ (e.g. ~/.local/share/zoo/manifests): where --record keeps
    its copy of a manifest that belongs to an installed package, which an upgrade would overwrite."""
    raw = os.environ.get("ZOO_RECORDS_DIR", "").strip()
    if raw:
        return Path(raw).expanduser()
    return _platform_dir("data", os.environ.get("XDG_DATA_HOME"), os.environ.get("HOME")) / "manifests"


@functools.lru_cache(maxsize=8)
def _platform_dir(kind: str, xdg: str | None, home: str | None) -> Path:
    """The user's data or cache folder for zoo. Keyed by the variables it derives from, so a changed environment is
    still seen, while a hit on the hot path no longer asks platformdirs every time (about 10 us)."""
    import platformdirs

    return Path({"data": platformdirs.user_data_dir, "cache": platformdirs.user_cache_dir}[kind]("zoo", appauthor=False))


# Besides a resolution's arguments and ZOO_TARGET: where the cache is, where manifests are read from, whether a
# fetch may build, and the mirrors (which may serve a file no manifest source hosts).
_DECIDING = ("ZOO_CACHE_DIR", "XDG_CACHE_HOME", "ZOO_MANIFESTS", "ZOO_RECORDS_DIR", "XDG_DATA_HOME", "HOME",
             "ZOO_BUILD_ON_FETCH", "ZOO_MIRRORS")


def deciding() -> tuple[str | None, ...]:
    """The environment variables that decide a resolution besides its arguments and ZOO_TARGET, as a key for
    remembered hits (read raw: no Path is built on a warm hit)."""
    return tuple(map(os.environ.get, _DECIDING))


def build_on_fetch() -> bool:
    """ZOO_BUILD_ON_FETCH (default yes): a fetch may build a pinned, unhosted artifact here from its verified parent
    when its compiler is installed; 0 keeps fetches to downloads and the cache (--build still builds)."""
    raw = os.environ.get("ZOO_BUILD_ON_FETCH", "").strip()
    return True if not raw else _flag("ZOO_BUILD_ON_FETCH")


def debug() -> bool:
    """ZOO_DEBUG=1 shows tracebacks for known errors (a value that is neither yes nor no counts as yes: it is asked
    while an error is being reported, and a debugging switch should not hide the traceback it was set for)."""
    try:
        return _flag("ZOO_DEBUG")
    except SettingInvalid:
        return True


def cache_dir() -> Path:
    """ZOO_CACHE_DIR, else the user cache dir (e.g. ~/.cache/zoo)."""
    raw = os.environ.get("ZOO_CACHE_DIR", "").strip()
    if raw:
        return Path(raw).expanduser()
    return _platform_dir("cache", os.environ.get("XDG_CACHE_HOME"), os.environ.get("HOME"))


def offline() -> bool:
    """ZOO_OFFLINE=1: never touch the network."""
    return _flag("ZOO_OFFLINE")


def target() -> str | None:
    """ZOO_TARGET overrides target='auto'; an unknown name is an error naming the variable."""
    from zoo.targets import TARGETS

    value = os.environ.get("ZOO_TARGET", "").strip() or None
    if value is not None and value not in TARGETS:
        raise SettingInvalid(f"ZOO_TARGET={shown(value, 40)} is not a target", f"use one of: {', '.join(TARGETS)}, or unset it")
    return value


def mirrors() -> list[str]:
    """ZOO_MIRRORS: prefixes (whitespace-separated) tried before a manifest's sources: http(s)://HOST/PATH, fetched
    as <prefix>/<model>/<file>, or oci://REGISTRY/PATH, fetched as the blob of the file's sha256 in <PATH>/<model>."""
    out = []
    for prefix in os.environ.get("ZOO_MIRRORS", "").split():
        try:
            parts = urlsplit(prefix)
            parts.port  # noqa: B018  (raises ValueError on a bad port)
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https", "oci") or not parts.hostname:
            raise SettingInvalid(f"ZOO_MIRRORS entry {shown(prefix, 80)} is not an http(s):// or oci:// prefix",
                                 "separate prefixes with spaces, e.g. ZOO_MIRRORS='https://mirror.example/zoo oci://registry.example/zoo'")
        if parts.scheme == "oci":
            _oci_prefix(prefix)
        else:
            _http_prefix(prefix)
        out.append(prefix.rstrip("/"))
    return out


def _http_prefix(prefix: str) -> None:
    """An http(s):// mirror prefix is a URL the source grammar accepts (no spaces, backslashes or control characters)."""
    from zoo.sources import parse

    try:
        parse(prefix)
    except ValueError as e:
        raise SettingInvalid(f"ZOO_MIRRORS entry {shown(prefix, 80)} is not a usable URL: {e}",
                             "separate prefixes with spaces; percent-encode anything else") from None


def _oci_prefix(prefix: str) -> None:
    """An oci:// mirror prefix is a registry and a repository path the distribution spec accepts, without credentials."""
    from zoo.sources import parse_oci

    if "@" in prefix.partition("//")[2].partition("/")[0]:
        raise SettingInvalid(f"ZOO_MIRRORS entry {shown(prefix, 80)} carries credentials, which zoo never takes from a URL",
                             "log in with `docker login REGISTRY` (DOCKER_CONFIG) or set ZOO_REGISTRY_HOST, "
                             "ZOO_REGISTRY_USERNAME and ZOO_REGISTRY_PASSWORD")
    try:
        ref = parse_oci(prefix.rstrip("/") + "/model")
    except ValueError:
        ref = None
    if ref is None or ref.tag is not None:
        raise SettingInvalid(f"ZOO_MIRRORS entry {shown(prefix, 80)} is not oci://REGISTRY/PATH with a lowercase path",
                             "registries require lowercase repository names (GHCR lowercases organisations: "
                             "use oci://ghcr.io/acme/zoo for github.com/Acme)")


def registry_login(registry: str) -> tuple[str, str] | None:
    """ZOO_REGISTRY_USERNAME / ZOO_REGISTRY_PASSWORD, offered only to the registry named in ZOO_REGISTRY_HOST."""
    user, password = os.environ.get("ZOO_REGISTRY_USERNAME"), os.environ.get("ZOO_REGISTRY_PASSWORD")
    if not (user and password):
        return None
    host = os.environ.get("ZOO_REGISTRY_HOST", "").strip()
    if not host:
        raise SettingInvalid("ZOO_REGISTRY_USERNAME and ZOO_REGISTRY_PASSWORD are set but ZOO_REGISTRY_HOST is not",
                             "set ZOO_REGISTRY_HOST to the registry (host[:port]) they are for: they are sent to it alone")
    return (user, password) if host == registry else None


def oci_insecure() -> set[str]:
    """ZOO_OCI_INSECURE: registries (host or host:port, comma- or space-separated) reached over plain http;
    loopback registries always are."""
    return {h for h in os.environ.get("ZOO_OCI_INSECURE", "").replace(",", " ").split() if h}


def retry_backoff() -> float:
    """ZOO_RETRY_BACKOFF: first retry delay in seconds (doubles each retry)."""
    return _float("ZOO_RETRY_BACKOFF", 1.0, "seconds")


def timeouts() -> tuple[float, float]:
    """ZOO_CONNECT_TIMEOUT and ZOO_READ_TIMEOUT in seconds."""
    return _float("ZOO_CONNECT_TIMEOUT", 10.0, "seconds", 0.001), _float("ZOO_READ_TIMEOUT", 60.0, "seconds", 0.001)


def lock_timeout() -> float:
    """ZOO_LOCK_TIMEOUT: how long to wait for another process fetching the same file."""
    return _float("ZOO_LOCK_TIMEOUT", 600.0, "seconds")


def max_unsized_download() -> int:
    """ZOO_MAX_DOWNLOAD_MB: cap for files whose size the manifest does not know."""
    return int(_float("ZOO_MAX_DOWNLOAD_MB", 2048, "MB", 0.001) * 1024 * 1024)


def hf_endpoint() -> str | None:
    """HF_ENDPOINT, read when an hf:// source is used."""
    return os.environ.get("HF_ENDPOINT") or None
