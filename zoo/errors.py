"""Every error a user of zoo can see, each with a hint on what to do.

Classes also inherit the matching built-in so callers can catch either.
"""

from __future__ import annotations


class ZooError(Exception):
    """Base of every user-facing zoo error: a one-line message and an optional hint."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ManifestInvalid(ZooError, ValueError):
    """A manifest file failed validation; `problems` holds (field, message) pairs."""

    def __init__(self, path: str, problems: list[tuple[str, str]]):
        self.path = path
        self.problems = problems
        super().__init__("\n".join(f"{path}: {field}: {msg}" for field, msg in problems))


class ModelNotFound(ZooError, LookupError):
    """No manifest has this name or alias."""


class TargetUnknown(ZooError, ValueError):
    """A target name that is not in the registry."""


class ArtifactUnavailable(ZooError, LookupError):
    """The model has no usable artifact for the requested target."""
