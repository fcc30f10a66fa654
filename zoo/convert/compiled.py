"""Artifacts compiled from another artifact of the same model (zoo/convert/compilers/): i.MX 93 files (Vela on the
int8 parent), i.MX 8M Plus files (the VX rewrite of the uint8 parent) and int8 files quantized from a published float
one (ai-edge-quantizer, calibrated on pinned images).

No TensorFlow is involved: the parent and the images are fetched and verified (zoo.obtain; a parent nobody hosts is
itself rebuilt first), then the artifact is compiled here. The
compile is deterministic (the same bytes for the same parent, compiler version and options), so such an artifact can
be pinned and rebuilt anywhere instead of downloaded: a fetch admits the product only if it matches the same pin a
download would have to match.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from zoo import hashes, settings
from zoo.cache import Cache
from zoo.choice import rebuildable
from zoo.convert import record
from zoo.convert.compilers import Compiled, compiler_for
from zoo.convert.record import Built, Check, tool_text
from zoo.errors import BuildFailed, ChecksumMismatch, FetchFailed, ZooError
from zoo.manifest import Artifact, Manifest
from zoo.obtain import obtain, obtain_unhosted
from zoo.progress import Progress


def _inputs(m: Manifest, a: Artifact, cache: Cache, offline: bool, progress: Progress) -> dict[str, Path]:
    """The verified upstream files a compile of `a` reads besides its parent (the quantizer's calibration and holdout
    images), by upstream id."""
    wanted = [*a.quantize.calibration, *a.quantize.holdout] if a.quantize else []
    return {u.id: obtain(m.name, u, cache, offline=offline, progress=progress)[0] for u in m.upstream if u.id in wanted}


def obtain_artifact(m: Manifest, a: Artifact, cache: Cache, *, offline: bool, progress: Progress) -> tuple[Path, str]:
    """Any artifact as a verified file in the cache: downloaded if published, else taken from the cache or a mirror
    (ZOO_MIRRORS), else rebuilt from its parent (obtained the same way) and admitted only if it matches its pin."""
    if a.published:
        return obtain(m.name, a, cache, offline=offline, progress=progress, archives=m.upstream)
    try:
        found = obtain_unhosted(m.name, a, cache, offline=offline, progress=progress)
    except FetchFailed as e:
        if not rebuildable(m, a):
            raise
        progress.note(f"{e.message}; building it here")
        found = None
    if found is not None:
        return found
    if not rebuildable(m, a):
        raise BuildFailed("parent", f"{m.name}/{a.id} is neither published nor rebuildable from a published parent",
                          a.unpublished)
    parent_path, parent_sha = obtain_artifact(m, m.artifact(a.parent), cache, offline=offline, progress=progress)
    inputs = _inputs(m, a, cache, offline, progress)
    return rebuild_into_cache(m, a, parent_path, parent_sha, inputs, cache, progress)


def _compile(m: Manifest, a: Artifact, parent_path: Path, inputs: dict[str, Path], work: Path,
             progress: Progress) -> Compiled:
    """Compile the verified parent and check the gates; BuildFailed names the step that failed."""
    compiler = compiler_for(a)
    progress.note(f"compiling {m.artifact(a.parent).file} for {a.target} with {a.compiler.name}")
    try:
        compiled = compiler.compile(parent_path, work, m, a, inputs)
    except ZooError as e:
        raise BuildFailed("compile", e.message, e.hint) from e
    if compiled.failed:
        raise BuildFailed("compile", "; ".join(f"{c.name}: {c.detail}" for c in compiled.failed))
    return compiled


def build(m: Manifest, a: Artifact, cache: Cache, out: Path, check: bool, progress: Progress) -> Built:
    """`zoo build` for one compiled artifact from its parent (obtained into `cache`, see obtain_artifact): the file and
    its `.build.json` in `out`; with `check`, whether the bytes are the pinned ones."""
    offline = settings.offline()
    parent_path, parent_sha = obtain_artifact(m, m.artifact(a.parent), cache, offline=offline, progress=progress)
    try:
        inputs = _inputs(m, a, cache, offline, progress)
    except ZooError as e:  # the images, not the parent: say which step a user has to fix
        raise BuildFailed("calibration", e.message, e.hint) from e
    with tempfile.TemporaryDirectory(prefix="zoo-compile-") as tmp:
        compiled = _compile(m, a, parent_path, inputs, Path(tmp), progress)
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
            raise BuildFailed("compare", checks[-1].detail, what_differs(a, compiled))
    parent = m.artifact(a.parent)
    rec = record.make(m, a, digest.sha256, digest.size, made_from={"kind": "artifact", "id": parent.id, "file": parent.file,
                                                                   "sha256": parent_sha},
                      tool=compiled.tool, checks=checks, compile=compiled.report)
    path = record.write_record(dest.with_name(dest.name + ".build.json"), rec)
    return Built(a, dest, digest.sha256, digest.size, checks, path, smoke=False, compile_stats=compiled.report)


def estimate(m: Manifest, built: Built) -> dict | None:
    """The compiler's latency estimate of a built artifact as a manifest `benchmarks` entry, if it makes one."""
    compiled = Compiled(built.path, built.compile_stats, {}, built.checks)
    return compiler_for(built.artifact).estimate(m, built.artifact.id, compiled)


def rebuild_into_cache(m: Manifest, a: Artifact, parent_path: Path, parent_sha: str, inputs: dict[str, Path],
                       cache: Cache, progress: Progress) -> tuple[Path, str]:
    """Build `a` from its verified parent and admit it to the cache only if it matches its pin, like a download."""
    if a.sha256 is None:
        raise BuildFailed("select", f"{m.name}/{a.id} has no pinned sha256, so a rebuild could not be verified")
    work = Path(tempfile.mkdtemp(prefix="compile-", dir=cache.temp().parent))
    try:
        compiled = _compile(m, a, parent_path, inputs, work, progress)
        digest = hashes.file_digest(compiled.path)
        try:
            hashes.check(digest, f"{a.file} rebuilt with {tool_text(compiled.tool)}", sha256=a.sha256,
                         md5=None, size=a.size)
        except ChecksumMismatch as e:
            raise BuildFailed("verify", e.message, what_differs(a, compiled)) from None
        path = cache.install(compiled.path, digest, m.name, a.id, a.file)
        progress.note(f"built {a.file} here from {a.parent} and verified it against its pin")
        return path, digest.sha256
    finally:
        shutil.rmtree(work, ignore_errors=True)


def what_differs(a: Artifact, compiled: Compiled) -> str:
    """Why a build is not the pinned bytes: each version, option and calibration digest that enters the bytes (the
    compiler's DETERMINANTS, dotted into nested records) that differs between the pin's compile_stats and this build;
    if none does, the machine's arithmetic, with the margin the build measured."""
    pinned, here = _flat(a.compile_stats or {}), _flat(compiled.report)
    keys = [k for k in here if k.split(".")[0] in getattr(compiler_for(a), "DETERMINANTS", ())]
    differ = [k for k in keys if pinned.get(k) != here[k]]
    if differ:
        named = [f"{k} {here[k]} here, {pinned[k] if k in pinned else 'not recorded'} in the pin" for k in differ[:4]]
        versions = any("version" in k for k in differ)
        return ("differs from the build that made the pin: " + "; ".join(named)
                + (f" (and {len(differ) - 4} more)" if len(differ) > 4 else "")
                + (f"; install the pinned versions ({compiler_for(a).INSTALL})" if versions else ""))
    margin = (compiled.report.get("ranges_margin") or {}).get("smallest_margin")
    return ("every version, option and calibration digest that enters the bytes is the pin's, so this machine's "
            "arithmetic differs" + (f" (the ranges' smallest margin here is {margin})" if margin is not None else "")
            + ": please report it with the CPU's model")


def _flat(record: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in record.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out
