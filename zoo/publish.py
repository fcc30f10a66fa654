"""Publishing built or cached artifacts: to the Hugging Face Hub in one commit, or to a static mirror folder.

Every file is verified (manifest sha256 and size, or its build record) before anything is written or sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from zoo import atomic, card, catalog, hashes, settings, sources
from zoo.errors import ChecksumMismatch, ZooError
from zoo.cache import Cache
from zoo.obtain import cached, obtain_cached
from zoo.manifest import Artifact, Manifest
from zoo.progress import Progress


@dataclass(frozen=True)
class Upload:
    path_in_repo: str
    data: bytes | None
    local: Path | None
    size: int
    sha256: str
    artifact: str | None = None


@dataclass
class Plan:
    manifest: Manifest
    manifest_path: Path
    uploads: list[Upload]
    card: str

    def to_dict(self) -> dict:
        return {"model": self.manifest.name, "files": [{"path": u.path_in_repo, "size": u.size, "sha256": u.sha256,
                                                        "artifact": u.artifact} for u in self.uploads]}


def _blob(path: str, data: bytes, artifact: str | None = None) -> Upload:
    return Upload(path, data, None, len(data), hashes.sha256_of(data), artifact)


def _verified(a: Artifact, path: Path, record: dict | None) -> Upload:
    """The artifact file as an upload, after checking it against the manifest or, if it has none yet, its build record."""
    digest = hashes.file_digest(path)
    sha256, size = digest.sha256, digest.size
    want_sha = a.sha256 or (record or {}).get("sha256")
    want_size = a.size or (record or {}).get("size")
    if want_sha is None:
        raise ZooError(f"{path}: {a.id} has no sha256 in the manifest and no build record beside it",
                       "publish what `zoo build` made (it writes <file>.build.json), or record its sha256 first")
    if (sha256, size) != (want_sha, want_size):
        raise ChecksumMismatch(str(path), "sha256/size", f"{want_sha} / {want_size} B", f"{sha256} / {size} B")
    return Upload(a.file, None, path, size, sha256, a.id)


def pinned_in_cache(m: Manifest, a: Artifact) -> bool:
    """A pinned artifact nobody hosts that is in the cache, verified (built here by a fetch, or imported)."""
    return bool(a.sha256) and cached(m.name, a, Cache(settings.cache_dir())) is not None


def _selected(m: Manifest, targets: list[str]) -> list[Artifact]:
    chosen = [a for a in m.artifacts if not targets or a.target in targets]
    if not chosen:
        raise ZooError(f"{m.name} has no artifact for {', '.join(targets)}", f"it has: {', '.join(m.targets)}")
    return chosen


def plan(name: str, targets: list[str] | None = None, from_dir: Path | None = None, repo: str | None = None,
         progress: Progress | None = None) -> Plan:
    """What would be uploaded: verified artifacts (from a build folder, else the cache), build records,
    the manifest and the generated card. Nothing is sent."""
    progress = progress or Progress()
    entry = catalog.load().entry(name)
    m = entry.manifest
    uploads, records = [], {}
    for a in _selected(m, targets or []):
        built = from_dir / a.file if from_dir else None
        if built is not None and built.is_file():
            record_path = built.with_name(built.name + ".build.json")
            record = json.loads(record_path.read_text()) if record_path.is_file() else None
            if record and record.get("smoke"):
                raise ZooError(f"{built} is a smoke build (random weights or calibration, or another input size)",
                               "smoke builds are never published: rebuild with real weights and --calibration DIR")
            uploads.append(_verified(a, built, record))
            if record:
                records[a.id] = record
                uploads.append(_blob(f"zoo/{record_path.name}", record_path.read_bytes()))
        elif a.published or pinned_in_cache(m, a):
            path, _ = obtain_cached(m.name, a, progress, archives=m.upstream)
            uploads.append(_verified(a, path, None))
        elif targets and a.target in targets:
            raise ZooError(f"{m.name}/{a.id} is neither built in {from_dir or '(no --from folder)'}, nor published, nor "
                           "in the cache", f"build it first: zoo build {m.name} --target {a.target} --out DIR, then "
                                           f"--from DIR (or zoo fetch {m.name} --target {a.target} --build)")
        else:
            progress.note(f"skipping {a.id}: not built here, not published and not in the cache")
    if not any(u.artifact for u in uploads):
        raise ZooError(f"nothing to publish for {m.name}", "build artifacts with `zoo build`, then pass --from DIR")
    text = card.render(m, repo, records)
    card.validate(text)
    uploads.append(_blob(f"zoo/{m.name}.yaml", entry.path.read_bytes()))
    uploads.append(_blob("README.md", text.encode()))
    return Plan(m, entry.path, uploads, text)


def publish(p: Plan, *, repo: str | None = None, oci=None, folder: Path | None = None, url: str | None = None,
            private: bool = False, revision: str | None = None, record: bool = False, progress: Progress | None = None) -> dict:
    """Send a verified plan to exactly one place (the Hub, an OCI registry, a mirror folder), then, with `record`,
    put the new source first in the manifest. The push comes first, so no source is recorded for what was not sent."""
    progress = progress or Progress()
    result = p.to_dict()
    if oci is not None:
        from zoo.oci import push as oci_push

        result["oci"] = oci_push(oci, p, progress)
        result["mirror"] = mirror_prefix(oci.source, p.manifest.name)
        source = lambda file: oci.source  # noqa: E731
    elif folder is not None:
        if record and not url:
            raise ZooError("recording a mirror folder needs the URL it is served at", "pass --url https://...")
        if url is not None:
            mirror_url(url)
        result["index"] = str(to_directory(p, folder))
        source = lambda file: f"{url.rstrip('/')}/{p.manifest.name}/{file}"  # noqa: E731
    else:
        from zoo.hub import push

        commit = push(repo, p.uploads, f"zoo publish {p.manifest.name}", private=private, revision=revision)
        result["commit"] = commit
        source = lambda file: hf_source(repo, commit, file)  # noqa: E731
    if record:
        result["recorded"] = str(record_sources(p, source))
    return result


def mirror_url(url: str) -> str:
    """A URL a mirror folder is served at, as it may be recorded: http(s), and no credentials (they would be written
    into the manifest, then packed into bundles and uploaded with it)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ZooError(f"--url {url!r} is not an http(s):// URL", "give the address the folder is served at")
    if parts.username is not None or parts.password is not None:
        raise ZooError("--url carries a user name or password, which zoo never records into a manifest",
                       "give the URL without them and put the credentials in ~/.netrc (machine HOST login USER password "
                       "PASSWORD), which zoo's downloads use for that host only")
    return url


def mirror_prefix(source: str, model: str) -> str | None:
    """What to set ZOO_MIRRORS to for a registry repository `source` (oci://REGISTRY/PATH/MODEL): oci://REGISTRY/PATH,
    since zoo looks up <prefix>/<model>; None when the repository does not end with the model's name."""
    head, _, last = source.rpartition("/")
    return head if last == model and head.count("/") >= 3 else None


def hf_source(repo: str, commit: str, file: str) -> str:
    return f"hf://{repo}@{commit}/{file}"


def record_sources(p: Plan, new_source) -> Path:
    """Put each uploaded artifact's new source first in the manifest (older entries for the same place dropped),
    keep the other mirrors after it, and fill in size and sha256; returns the manifest file edited."""
    from zoo.manifest_edit import update_manifest

    changes = {}
    for u in p.uploads:
        if u.artifact is None:
            continue
        a = p.manifest.artifact(u.artifact)
        first = new_source(a.file)
        rest = [s for s in a.sources if not sources.same_place(first, s)]
        changes[a.id] = {"sources": [first, *rest], "unpublished": None, "size": u.size, "sha256": u.sha256}
    path = catalog.record_path(p.manifest.name)
    update_manifest(path, artifacts=changes)
    return path


def to_directory(p: Plan, folder: Path) -> Path:
    """A static mirror: <folder>/<model>/<file> for each artifact, the manifest, and index.json for the whole folder."""
    model_dir = folder / p.manifest.name
    model_dir.mkdir(parents=True, exist_ok=True)
    for u in p.uploads:
        if u.artifact is not None:
            atomic.copy(u.local, model_dir / u.path_in_repo)
    atomic.write(model_dir / f"{p.manifest.name}.yaml", p.manifest_path.read_bytes())
    index_path = folder / "index.json"
    try:
        index = json.loads(index_path.read_text()) if index_path.is_file() else {"files": []}
        kept = [e for e in index["files"] if e["model"] != p.manifest.name]
    except (ValueError, TypeError, KeyError, RecursionError):
        raise ZooError(f"{index_path} is not a zoo mirror index", "publish into an empty folder or one zoo wrote") from None
    index["files"] = kept + [
        {"model": p.manifest.name, "artifact": u.artifact, "file": f"{p.manifest.name}/{u.path_in_repo}", "size": u.size,
         "sha256": u.sha256} for u in p.uploads if u.artifact]
    atomic.write(index_path, json.dumps(index, indent=2) + "\n")
    return index_path
