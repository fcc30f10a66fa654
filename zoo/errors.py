"""Every error a user of zoo can see, each with a hint on what to do.

Classes also inherit the matching built-in so callers can catch either.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def install_extra(extra: str) -> str:
    """How to install one of zoo's extras: edge-model-zoo is not on PyPI yet, so from zoo's checkout when zoo runs from
    one (its pyproject.toml beside the package), else from the wheel or source it was installed from."""
    here = Path(__file__).resolve().parent
    if (here.parent / "pyproject.toml").is_file() and not (here / "manifests").is_dir():
        return f"pip install '.[{extra}]' in zoo's checkout (the {extra} extra of edge-model-zoo)"
    source = _installed_from()
    if source:
        return f"pip install 'edge-model-zoo[{extra}] @ {source}' (the {extra} extra of edge-model-zoo)"
    return (f"pip install 'edge-model-zoo[{extra}] @ WHEEL', naming the wheel or source zoo was installed from (the "
            f"{extra} extra of edge-model-zoo)")


def _installed_from() -> str | None:
    """The URL pip recorded for the installed edge-model-zoo (PEP 610 direct_url.json), if any."""
    import json
    from importlib import metadata

    try:
        found = json.loads(metadata.distribution("edge-model-zoo").read_text("direct_url.json") or "{}")
    except (metadata.PackageNotFoundError, ValueError, OSError):
        return None
    return found.get("url") if isinstance(found, dict) and isinstance(found.get("url"), str) else None


def redact(text: str) -> str:
    """Hide the user:password part of every URL in `text`."""
    return _USERINFO.sub(r"\1***@", text)


def visible(text: str) -> str:
    """`text` without Unicode format characters (category Cf: bidi overrides and isolates, zero-width characters),
    which reorder or hide what a terminal shows."""
    return text if text.isascii() else "".join(c for c in text if unicodedata.category(c) != "Cf")


def printable(text: str) -> str:
    """`text` safe for a terminal: URL credentials redacted, control and format characters (escape sequences, bidi
    overrides) removed."""
    return visible(_CONTROL.sub("", redact(text)))


def shown(value: object, limit: int = 120) -> str:
    """An untrusted value quoted on one line, credentials redacted and cut at `limit` characters."""
    text = value if isinstance(value, str) else str(value)
    cut = f"... ({len(text)} characters)" if len(text) > limit else ""
    return repr(redact(text[:limit])) + cut


class ZooError(Exception):
    """Base of every user-facing zoo error: a one-line message and an optional hint.

    Both are made printable here, so text a server or a file supplied can never reach a terminal raw.
    """

    def __init__(self, message: str, hint: str | None = None):
        message, hint = printable(message), printable(hint) if hint else hint
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ManifestInvalid(ZooError, ValueError):
    """A manifest file failed validation; `problems` holds (field, message) pairs."""

    def __init__(self, path: str, problems: list[tuple[str, str]]):
        self.path = path
        self.problems = [(printable(field), printable(msg)) for field, msg in problems]
        super().__init__("\n".join(f"{path}: {field}: {msg}" for field, msg in self.problems))


class ModelNotFound(ZooError, LookupError):
    """No manifest has this name or alias."""


class TargetUnknown(ZooError, ValueError):
    """A target name that is not in the registry."""


class ArtifactUnavailable(ZooError, LookupError):
    """The model has no usable artifact for the requested target."""


class FetchFailed(ZooError, ConnectionError):
    """Every source of a file failed; `failures` lists (source, reason)."""

    def __init__(self, what: str, failures: list[tuple[str, str]]):
        self.failures = failures
        detail = "; ".join(f"{src}: {why}" for src, why in failures) or "no sources"
        super().__init__(f"could not fetch {what}: {detail}")


class ChecksumMismatch(ZooError, ValueError):
    """Downloaded or cached bytes do not match the pinned hash."""

    def __init__(self, what: str, algorithm: str, expected: str, actual: str):
        self.what, self.algorithm, self.expected, self.actual = what, algorithm, expected, actual
        super().__init__(
            f"{algorithm} mismatch for {what}: expected {expected}, got {actual}",
            "the partial file was deleted; the source may be corrupt or changed upstream",
        )


class DownloadError(ZooError, ConnectionError):
    """A source could not deliver the file (HTTP error, too large, HTML page, network)."""


class OfflineMiss(ZooError, FileNotFoundError):
    """Offline mode and the file is not in the cache."""


class RuntimeMissing(ZooError, ImportError):
    """No LiteRT interpreter, or a delegate library that cannot be loaded."""


class ZooWarning(UserWarning):
    """A fallback, a weak pin or a skipped source: worth telling, not worth failing."""


class InvalidModel(ZooError, ValueError):
    """The file is not a readable TFLite flatbuffer."""


class UnsafeArchive(ZooError, ValueError):
    """An archive member would escape the extraction folder."""


class CompilerMissing(ZooError, FileNotFoundError):
    """edgetpu_compiler is not on PATH."""


class CompileFailed(ZooError, RuntimeError):
    """edgetpu_compiler ran but did not produce a model."""


class BuildFailed(ZooError, RuntimeError):
    """A recipe step failed; `step` names it."""

    def __init__(self, step: str, message: str, hint: str | None = None):
        self.step = step
        super().__init__(f"build step '{step}' failed: {message}", hint)


class WeightsMismatch(ZooError, ValueError):
    """A weights file whose tensors do not all match the model by name and shape."""


class SettingInvalid(ZooError, ValueError):
    """A ZOO_* environment variable with a value zoo cannot use."""


class CacheError(ZooError, OSError):
    """The cache folder cannot be read or written (read-only, full, not a folder, changed underneath)."""


class BadBundle(ZooError, ValueError):
    """A bundle that is truncated, tampered with or not a zoo bundle; nothing was installed."""
