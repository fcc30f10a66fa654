"""OCI references, REGISTRY/REPOSITORY[:TAG] or oci://REGISTRY/REPOSITORY, by the distribution spec's grammar: light
(no HTTP), so manifests and settings can validate them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from zoo.errors import shown

_REPOSITORY = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*")
_REGISTRY = re.compile(r"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9a-fA-F:]+\])(?::\d{1,5})?")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True)
class Reference:
    registry: str
    repository: str
    tag: str | None = None

    @property
    def source(self) -> str:
        return f"oci://{self.registry}/{self.repository}"


def parse(text: str) -> Reference:
    """REGISTRY/REPOSITORY[:TAG] or oci://REGISTRY/REPOSITORY, validated by the distribution spec's grammar."""
    rest = text.removeprefix("oci://")
    registry, _, path = rest.partition("/")
    repository, tag = path, None
    if ":" in path.rsplit("/", 1)[-1]:
        repository, tag = path.rsplit(":", 1)
    if not (_REGISTRY.fullmatch(registry) and _REPOSITORY.fullmatch(repository) and (tag is None or _TAG.fullmatch(tag))):
        raise ValueError(f"{shown(text)} is not REGISTRY/REPOSITORY[:TAG] (lowercase repository path, e.g. "
                         "ghcr.io/acme/zoo/deeplabv3 or 127.0.0.1:5000/zoo/deeplabv3)")
    return Reference(registry, repository, tag)
