"""Artifacts compiled from another published artifact of the same model by their target's compiler (zoo/convert/
compilers/): i.MX 93 files (Vela on the int8 parent) and i.MX 8M Plus files (the VX rewrite of the uint8 parent).

No TensorFlow is involved: the caller fetches and verifies the parent (zoo.obtain), then it is compiled here. The
compile is deterministic (the same bytes for the same parent, compiler version and options), so such an artifact can
be pinned and rebuilt anywhere instead of downloaded: a fetch admits the product only if it matches the same pin a
download would have to match.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from zoo import hashes
from zoo.cache import Cache
from zoo.convert import record
from zoo.convert.compilers import Compiled, compiler_for
from zoo.convert.record import Built, Check
from zoo.errors import BuildFailed, ChecksumMismatch, ZooError
from zoo.manifest import Artifact, Manifest
from zoo.progress import Progress


def _compile(m: Manifest, a: Artifact, parent_path: Path, work: Path, progress: Progress) -> Compiled:
    """Compile the verified parent and check the gates; BuildFailed names the step that failed."""
    compiler = compiler_for(a.target)
    progress.note(f"compiling {m.artifact(a.parent).file} for {a.target} with {compiler.__name__.rsplit('.', 1)[-1]}")
    try:
        compiled = compiler.compile(parent_path, work, m)
    except ZooError as e:
        raise BuildFailed("compile", e.message, e.hint) from e
    if compiled.failed:
        raise BuildFailed("compile", "; ".join(f"{c.name}: {c.detail}" for c in compiled.failed))
    return compiled


def build(m: Manifest, a: Artifact, parent_path: Path, parent_sha: str, out: Path, check: bool, progress: Progress) -> Built:
    """`zoo build` for one compiled artifact from its verified parent: the file and its `.build.json` in `out`; with
    `check`, whether the bytes are the pinned ones."""
    with tempfile.TemporaryDirectory(prefix="zoo-compile-") as tmp:
        compiled = _compile(m, a, parent_path, Path(tmp), progress)
        out.mkdir(parents=True, exist_ok=True)
        dest = out / a.file
        shutil.copyfile(compiled.path, dest)
    digest = hashes.file_digest(dest)
    checks = list(compiled.checks)
    if check:
        same = digest.sha256 == a.sha256
        checks.append(Check("same-bytes", same, "identical bytes to the pinned file" if same
                            else f"sha256 {digest.sha256}, pinned {a.sha256 or 'nothing'}"))
        if not same:
            raise BuildFailed("compare", checks[-1].detail, "a different compiler version or options give other bytes")
    parent = m.artifact(a.parent)
    rec = record.make(m, a, digest.sha256, digest.size, made_from={"kind": "artifact", "id": parent.id, "file": parent.file,
                                                                   "sha256": parent_sha},
                      tool=compiled.tool, checks=checks, compile=compiled.report)
    path = record.write_record(dest.with_name(dest.name + ".build.json"), rec)
    return Built(a, dest, digest.sha256, digest.size, checks, path, smoke=False, compile_stats=compiled.report)


def estimate(m: Manifest, built: Built) -> dict | None:
    """The compiler's latency estimate of a built artifact as a manifest `benchmarks` entry, if it makes one."""
    compiled = Compiled(built.path, built.compile_stats, {}, built.checks)
    return compiler_for(built.artifact.target).estimate(m, built.artifact.id, compiled)


def rebuild_into_cache(m: Manifest, a: Artifact, parent_path: Path, parent_sha: str, cache: Cache,
                       progress: Progress) -> tuple[Path, str]:
    """Build `a` from its verified parent and admit it to the cache only if it matches its pin, like a download."""
    if a.sha256 is None:
        raise BuildFailed("select", f"{m.name}/{a.id} has no pinned sha256, so a rebuild could not be verified")
    work = Path(tempfile.mkdtemp(prefix="compile-", dir=cache.temp().parent))
    try:
        compiled = _compile(m, a, parent_path, work, progress)
        digest = hashes.file_digest(compiled.path)
        try:
            hashes.check(digest, f"{a.file} rebuilt with {compiled.tool['name']} {compiled.tool['version']}", sha256=a.sha256,
                         md5=None, size=a.size)
        except ChecksumMismatch as e:
            raise BuildFailed("verify", e.message, f"the pin was made with {pinned_version(a)}; install that version "
                                                   f"({compiler_for(a.target).INSTALL})") from None
        path = cache.install(compiled.path, digest, m.name, a.id, a.file)
        progress.note(f"built {a.file} here from {a.parent} and verified it against its pin")
        return path, digest.sha256
    finally:
        shutil.rmtree(work, ignore_errors=True)


def pinned_version(a: Artifact) -> str:
    """The tool version an artifact's pin was made with, as its compile report says."""
    stats = a.compile_stats or {}
    return str(stats.get("tool_version") or (f"vela {stats['vela_version']}" if "vela_version" in stats else "unknown"))
