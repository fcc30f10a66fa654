"""Offline bundles for air-gapped devices: one tar with the artifacts, the manifest, checksums and license.

`create` writes files/<sha256> for each artifact plus bundle.json (the index), SHA256SUMS, the manifest
and LICENSE. `install` checks every member and every byte before it installs anything into the cache.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import re
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from zoo import atomic, catalog, hashes, manifest, settings
from zoo.cache import Cache
from zoo.errors import BadBundle, CacheError, ChecksumMismatch, ManifestInvalid, ZooError, shown
from zoo.obtain import obtain_cached
from zoo.publish import pinned_in_cache
from zoo.manifest import Artifact, Manifest
from zoo.progress import Progress

FORMAT = "zoo-bundle/1"
MAX_META = 1 << 20
_META = {"bundle.json", "SHA256SUMS", "LICENSE"}
_MANIFEST = re.compile(r"manifests/[a-z0-9][a-z0-9.-]*\.yaml")


@dataclass(frozen=True)
class Installed:
    model: str
    artifact: str
    path: Path
    sha256: str


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))


def create(name: str, out: Path, targets: list[str] | None = None, progress: Progress | None = None) -> dict:
    """Fetch (or take from the cache) the published artifacts of `name` and pack them into `out`."""
    progress = progress or Progress()
    entry = catalog.load().entry(name)
    m: Manifest = entry.manifest
    chosen = [a for a in m.artifacts if (a.published or pinned_in_cache(m, a)) and (not targets or a.target in targets)]
    if not chosen:
        raise ZooError(f"{m.name} has no published or cached pinned artifact for {', '.join(targets or ['any target'])}",
                       f"published targets: {', '.join(m.published_targets) or 'none'}")
    files = []
    for a in chosen:
        path, sha256 = obtain_cached(m.name, a, progress, archives=m.upstream)
        files.append({"artifact": a.id, "target": a.target, "file": a.file, "member": f"files/{sha256}", "path": path,
                      "size": path.stat().st_size, "sha256": sha256})
    index = {"format": FORMAT, "model": m.name, "license": m.license, "homepage": m.homepage,
             "files": [{k: v for k, v in f.items() if k != "path"} for f in files]}
    with atomic.replacing(out) as tmp:
        with tarfile.open(tmp, "w") as tar:
            _add(tar, "bundle.json", json.dumps(index, indent=2).encode())
            _add(tar, "SHA256SUMS", "".join(f"{f['sha256']}  {f['file']}\n" for f in files).encode())
            _add(tar, f"manifests/{m.name}.yaml", entry.path.read_bytes())
            _add(tar, "LICENSE", f"{m.name}: {m.license}\nSee {m.homepage} for the license text and terms.\n".encode())
            for f in files:
                tar.add(f["path"], arcname=f["member"])
    return index


def install(bundle: Path, manifests_dir: Path | None = None) -> list[Installed]:
    """Verify a bundle completely, then install its files into the cache (and its manifest into `manifests_dir`).

    The bundle is hostile until proven otherwise: the bundled manifest is validated by the schema and is the
    only source of names, sizes and pins; every file must match that manifest's pin and size and the bundle's
    SHA256SUMS. The tar is read as a stream and every member's declared size is checked before a byte of it is
    read, so neither a huge member nor a gzip bomb gets further than the sizes the manifest allows. On any
    refusal nothing in the cache or `manifests_dir` has changed.
    """
    cache = Cache(settings.cache_dir())
    staged: list[tuple[Artifact, Path, hashes.Digest]] = []
    try:
        with _Budget.open(bundle) as stream:
            m, manifest_data = _read(bundle, stream, cache, staged)
    except BadBundle:
        _discard(staged)
        raise
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        _discard(staged)
        if isinstance(e, CacheError):
            raise
        if isinstance(e, FileNotFoundError) and e.filename == str(bundle):
            raise BadBundle(f"{bundle} does not exist", "give the path of a file made by `zoo bundle`") from None
        raise BadBundle(f"{bundle} is damaged or not a zoo bundle ({type(e).__name__}: {e}); nothing was installed") from None
    installed = [Installed(m.name, a.id, cache.install(tmp, digest, m.name, a.id, a.file), digest.sha256)
                 for a, tmp, digest in staged]
    if manifests_dir is not None:
        manifests_dir.mkdir(parents=True, exist_ok=True)
        atomic.write(manifests_dir / f"{m.name}.yaml", manifest_data)
    return installed


def _read(bundle: Path, stream: _Budget, cache: Cache, staged: list) -> tuple[Manifest, bytes]:
    """Check and stage every member of the stream; returns the validated manifest and its bytes."""
    meta: dict[str, bytes] = {}
    plan: dict[str, tuple[Artifact, int | None, str | None]] | None = None
    m = None
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            name = member.name
            if not member.isreg():
                raise _refuse(bundle, f"member {shown(name)} is not a regular file")
            if not name.startswith("files/"):
                if plan is not None or name in meta or not (name in _META or _MANIFEST.fullmatch(name)):
                    raise _refuse(bundle, f"unexpected or repeated member {shown(name)} (metadata comes first, once)")
                if member.size > MAX_META:
                    raise _refuse(bundle, f"member {name} declares {member.size:,} bytes; metadata is at most {MAX_META:,}")
                meta[name] = tar.extractfile(member).read()
                continue
            if plan is None:
                m, plan = _plan(bundle, meta)
                stream.allow(sum(size or settings.max_unsized_download() for _, size, _ in plan.values()) + 1024 * len(plan))
            if name not in plan:
                raise _refuse(bundle, f"member {shown(name)} is duplicated or not listed in bundle.json")
            a, size, sha256 = plan.pop(name)
            limit = size if size is not None else settings.max_unsized_download()
            if member.size > limit or (size is not None and member.size != size):
                raise _refuse(bundle, f"{a.file} declares {member.size:,} bytes; the manifest says {size if size is not None else f'at most {limit:,}'}")
            staged.append((a, *_stage(bundle, tar, member, a, sha256, cache)))
    if plan is None:
        raise _refuse(bundle, "it holds no files")
    if plan:
        raise _refuse(bundle, f"{', '.join(a.file for a, _, _ in plan.values())} missing")
    return m, meta[_manifest_member(meta)]


def _stage(bundle: Path, tar: tarfile.TarFile, member: tarfile.TarInfo, a: Artifact, sha256: str | None,
           cache: Cache) -> tuple[Path, hashes.Digest]:
    """Copy one member to a cache temp file, hashing as it goes, and check it against every pin."""
    tmp = cache.temp()
    try:
        hasher = hashes.Hasher(md5=a.md5 is not None)
        with tar.extractfile(member) as src, atomic.exclusive(tmp) as dst:
            while chunk := src.read(hashes.CHUNK):
                dst.write(chunk)
                hasher.update(chunk)
        digest = hasher.digest()
        hashes.check(digest, f"{bundle}:{a.file}", sha256=sha256, md5=a.md5, size=a.size)
    except ChecksumMismatch as e:
        tmp.unlink(missing_ok=True)
        raise _refuse(bundle, str(e.message)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, digest


def _plan(bundle: Path, meta: dict[str, bytes]) -> tuple[Manifest, dict[str, tuple[Artifact, int | None, str | None]]]:
    """Member name -> (artifact, size, sha256) for every file, taken from the validated manifest only."""
    try:
        index = json.loads(meta["bundle.json"])
    except (KeyError, ValueError):
        raise _refuse(bundle, "bundle.json is missing or not JSON (it must come before the files)") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT or not isinstance(index.get("files"), list):
        raise _refuse(bundle, f"bundle.json is not a {FORMAT} index")
    member = _manifest_member(meta)
    if member is None:
        raise _refuse(bundle, "it holds no manifest, or more than one (they must come before the files)")
    try:
        m = manifest.load_bytes(meta[member], f"{bundle}:{member}")
    except ManifestInvalid as e:
        raise _refuse(bundle, f"its manifest is invalid: {e.problems[0][0]}: {e.problems[0][1]}") from None
    if member != f"manifests/{m.name}.yaml" or index.get("model") != m.name:
        raise _refuse(bundle, f"bundle.json and {member} disagree on the model's name")
    sums = _sha256sums(bundle, meta.get("SHA256SUMS"))
    plan = {}
    for f in index["files"]:
        artifact_id = f.get("artifact") if isinstance(f, dict) else None
        a = next((a for a in m.artifacts if a.id == artifact_id), None)
        if a is None:
            raise _refuse(bundle, f"bundle.json lists {shown(artifact_id)}, which its manifest does not have")
        sha256 = a.sha256 or sums.get(a.file)
        if a.pin is None or sha256 is None or sums.get(a.file) != sha256:
            raise _refuse(bundle, f"SHA256SUMS and the manifest disagree on {a.file} (or it is not pinned)")
        plan[f"files/{sha256}"] = (a, a.size, sha256)
    if len(plan) != len(index["files"]):
        raise _refuse(bundle, "bundle.json lists a file twice")
    return m, plan


def _manifest_member(meta: dict[str, bytes]) -> str | None:
    names = [n for n in meta if _MANIFEST.fullmatch(n)]
    return names[0] if len(names) == 1 else None


def _sha256sums(bundle: Path, data: bytes | None) -> dict[str, str]:
    """file name -> sha256 from a SHA256SUMS file (`<hex>  <name>` lines)."""
    if data is None:
        raise _refuse(bundle, "SHA256SUMS is missing (it must come before the files)")
    out = {}
    for line in data.decode("utf-8", "replace").splitlines():
        sha, _, name = line.partition("  ")
        if name in out:
            raise _refuse(bundle, f"SHA256SUMS lists {shown(name)} twice")
        out[name] = sha
    return out


def _refuse(bundle: Path, why: str) -> BadBundle:
    return BadBundle(f"refusing {bundle}: {why}; nothing was installed")


def _discard(staged: list) -> None:
    for _, tmp, _ in staged:
        tmp.unlink(missing_ok=True)


class _Budget(io.RawIOBase):
    """The bundle's (decompressed) bytes, refused past a budget: metadata first, then what the manifest allows.

    tarfile reads GNU/pax headers whole into memory; this bound makes that, and any gzip bomb, stop early.
    """

    def __init__(self, source, bundle: Path):
        self._source, self._bundle, self._read, self._limit = source, bundle, 0, 8 * MAX_META

    @classmethod
    @contextlib.contextmanager
    def open(cls, bundle: Path):
        with open(bundle, "rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            source = gzip.GzipFile(fileobj=raw) if gzipped else raw
            yield cls(source, bundle)

    def allow(self, more: int) -> None:
        self._limit += more

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        n = self._source.readinto(buf)
        self._read += n
        if self._read > self._limit:
            raise _refuse(self._bundle, f"it expands past the {self._limit:,} bytes its manifest accounts for")
        return n
