"""What a source string means: `https://` (or `http://`) URLs, `hf://owner/repo@revision/path` files of the Hugging Face
Hub, `oci://registry/repository` registry repositories (a file is the blob of its sha256) and `member://ARCHIVE/PATH`
members of one of the model's pinned archives. Each kind's grammar lives here, as typed references; no I/O, so the
manifest and the settings validate sources with it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from zoo.errors import shown

_HF_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
_HF = re.compile(r"hf://(?P<owner>[^/@]+)/(?P<repo>[^/@]+)@(?P<revision>[^/]+)/(?P<path>.+)")
_URL_CHARS = re.compile(r"[\x00-\x20\x7f-\x9f\\]")
_MEMBER = re.compile(r"member://(?P<archive>[a-z0-9][a-z0-9.-]{0,99})/(?P<path>[^\x00-\x20\\]+)")
_REPOSITORY = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*")
_REGISTRY = re.compile(r"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9a-fA-F:]+\])(?::\d{1,5})?")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True)
class Https:
    url: str


@dataclass(frozen=True)
class Hub:
    repo: str  # owner/name
    revision: str
    path: str


@dataclass(frozen=True)
class Oci:
    registry: str
    repository: str
    tag: str | None = None

    @property
    def source(self) -> str:
        return f"oci://{self.registry}/{self.repository}"


@dataclass(frozen=True)
class Member:
    archive: str  # the id of an upstream zip archive of the same manifest
    path: str

    @property
    def source(self) -> str:
        return f"member://{self.archive}/{self.path}"


def parse(source: str) -> Https | Hub | Oci | Member:
    """The reference a manifest source names; ValueError saying what is wrong with it."""
    scheme = source.partition("://")[0] if "://" in source else None
    if scheme == "member":
        return parse_member(source)
    if scheme == "hf":
        return parse_hf(source)
    if scheme == "oci":
        ref = parse_oci(source)
        if ref.tag is not None:
            raise ValueError(f"an oci:// source names a repository, not a tag: {shown(source)}")
        return ref
    if _URL_CHARS.search(source):
        raise ValueError(f"source {shown(source)} contains spaces, backslashes or control characters")
    try:
        parts = urlsplit(source)
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError as e:
        raise ValueError(f"source {shown(source)} is not a valid URL ({e})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"source must be an http(s):// URL, hf://owner/repo@revision/path, oci://registry/repository or "
                         f"member://archive/path, got {shown(source)}")
    return Https(source)


def parse_member(source: str) -> Member:
    """The archive id and member path of a `member://ARCHIVE/PATH` source; the path may not leave the archive."""
    match = _MEMBER.fullmatch(source)
    if match is None or any(part in ("", ".", "..") for part in match["path"].split("/")):
        raise ValueError(f"member source must be member://ARCHIVE-ID/path/in/archive (no '.', '..' or empty parts), "
                         f"got {shown(source)}")
    return Member(match["archive"], match["path"])


def parse_hf(source: str) -> Hub:
    """The repo, revision and path of an hf://owner/repo@revision/path source; the path may not leave the repository."""
    match = _HF.fullmatch(source)
    if match is None:
        raise ValueError(f"hf:// source must be hf://owner/repo@revision/path, got {shown(source)}")
    owner, repo, revision, path = match["owner"], match["repo"], match["revision"], match["path"]
    segments = path.split("/")
    if not all(_HF_PART.fullmatch(p) and ".." not in p for p in (owner, repo, revision)) or any(
        s in ("", ".", "..") or _URL_CHARS.search(s) or "%" in s for s in segments
    ):
        raise ValueError(f"hf:// source {shown(source)} has an unsafe owner, repo, revision or path "
                         "('.', '..', empty segments, '%', spaces or control characters)")
    return Hub(f"{owner}/{repo}", revision, path)


def parse_oci(text: str) -> Oci:
    """REGISTRY/REPOSITORY[:TAG] or oci://REGISTRY/REPOSITORY, validated by the distribution spec's grammar."""
    rest = text.removeprefix("oci://")
    registry, _, path = rest.partition("/")
    repository, tag = path, None
    if ":" in path.rsplit("/", 1)[-1]:
        repository, tag = path.rsplit(":", 1)
    if not (_REGISTRY.fullmatch(registry) and _REPOSITORY.fullmatch(repository) and (tag is None or _TAG.fullmatch(tag))):
        raise ValueError(f"{shown(text)} is not REGISTRY/REPOSITORY[:TAG] (lowercase repository path, e.g. "
                         "ghcr.io/acme/zoo/deeplabv3 or 127.0.0.1:5000/zoo/deeplabv3)")
    return Oci(registry, repository, tag)


def mirrored(prefix: str, model: str, file: str) -> str:
    """The source a ZOO_MIRRORS prefix offers a model's file at: <prefix>/<model>/<file>, or for an oci:// prefix the
    repository <prefix>/<model> (the file is the blob of its sha256)."""
    return f"{prefix}/{model}" + ("" if prefix.partition("://")[0] == "oci" else f"/{file}")


def same_place(new: str, old: str) -> bool:
    """Whether `old` is an earlier source for the place `new` names: the same Hub repository at any revision, else a
    URL that begins with `new`."""
    ref = parse(new)
    return old.startswith(f"hf://{ref.repo}@" if isinstance(ref, Hub) else new)
