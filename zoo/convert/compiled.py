"""Artifacts compiled from another published artifact of the same model, e.g. i.MX 93 files: Vela on the int8 parent.

No TensorFlow is involved: the caller fetches and verifies the parent (zoo.obtain), then it is compiled here. The compile is
deterministic (the same bytes for the same parent, compiler version and options), so such an artifact can be pinned
and rebuilt anywhere instead of downloaded: `zoo fetch --build` admits the product only if it matches the same pin
a download would have to match.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path

from zoo import hashes
from zoo.convert import record
from zoo.convert.compilers import vela
from zoo.convert.record import Built, Check
from zoo.cache import Cache
from zoo.errors import BuildFailed, ChecksumMismatch, ZooError
from zoo.manifest import Artifact, Manifest
from zoo.progress import Progress
from zoo.targets import get_target

COMPILERS = {"vela": vela}
MACS_TOLERANCE = 0.05


def _compile(m: Manifest, a: Artifact, parent_path: Path, parent_sha: str, work: Path,
             progress: Progress) -> tuple[Path, vela.VelaReport, dict, list[Check]]:
    """Compile the verified parent and check the report; BuildFailed names the step that failed."""
    parent = m.artifact(a.parent)
    name = get_target(a.target).compiler
    compiler = COMPILERS[name]
    progress.note(f"compiling {parent.file} for {a.target} with {name}")
    try:
        product, report = compiler.compile_model(parent_path, work)
    except ZooError as e:
        raise BuildFailed("compile", e.message, e.hint) from e
    checks = gates(m, report)
    failed = [c for c in checks if not c.passed]
    if failed:
        raise BuildFailed("compile", "; ".join(f"{c.name}: {c.detail}" for c in failed))
    return product, report, {"id": parent.id, "file": parent.file, "sha256": parent_sha}, checks


def gates(m: Manifest, report: vela.VelaReport) -> list[Check]:
    """The compile report against the board and the manifest: SRAM within the arena, CPU operators under the
    manifest's ceiling, and the compiler's MAC count within 5% of the manifest's published multiply-adds."""
    checks = [Check("sram", report.sram_used_bytes <= report.arena_cache_bytes,
                    f"{report.sram_used_bytes:,} B of SRAM used, arena {report.arena_cache_bytes:,} B")]
    ceiling = m.build.max_cpu_ops if m.build else None
    if ceiling is not None:
        why = "; ".join(f"{o['op']} ({o['reason']})" for o in report.cpu_operators) or "none"
        checks.append(Check("cpu-ops", report.cpu_ops <= ceiling,
                            f"{report.cpu_ops} operator(s) on the CPU (ceiling {ceiling}): {why}"))
    published = m.flops.multiply_adds if m.flops else None
    if published:
        off = abs(report.macs - published) / published
        checks.append(Check("macs", off <= MACS_TOLERANCE,
                            f"the compiler counts {report.macs:,} MACs; the manifest's flops say {published:.4g} "
                            f"multiply-adds ({off:.2%} apart, tolerance {MACS_TOLERANCE:.0%})"))
    return checks


def build(m: Manifest, a: Artifact, parent_path: Path, parent_sha: str, out: Path, check: bool, progress: Progress) -> Built:
    """`zoo build` for one compiled artifact from its verified parent: the file and its `.build.json` in `out`; with
    `check`, whether the bytes are the pinned ones."""
    with tempfile.TemporaryDirectory(prefix="zoo-compile-") as tmp:
        product, report, parent, checks = _compile(m, a, parent_path, parent_sha, Path(tmp), progress)
        out.mkdir(parents=True, exist_ok=True)
        dest = out / a.file
        shutil.copyfile(product, dest)
    digest = hashes.file_digest(dest)
    if check:
        same = digest.sha256 == a.sha256
        checks.append(Check("same-bytes", same, "identical bytes to the pinned file" if same
                            else f"sha256 {digest.sha256}, pinned {a.sha256 or 'nothing'}"))
        if not same:
            raise BuildFailed("compare", checks[-1].detail, "a different compiler version or options give other bytes")
    rec = record.make(m, a, digest.sha256, digest.size, made_from={"kind": "artifact", **parent},
                      tool={"name": "vela", "version": report.vela_version, "options": report.options},
                      checks=checks, compile=report.to_dict())
    path = record.write_record(dest.with_name(dest.name + ".build.json"), rec)
    return Built(a, dest, digest.sha256, digest.size, checks, path, smoke=False, compile_stats=report.to_dict())


def estimate(m: Manifest, built: Built) -> dict:
    """A manifest `benchmarks` entry for the compiler's latency estimate (source: estimated, never measured)."""
    report = built.compile_stats
    options = " ".join(f"--{k} {v}" for k, v in report["options"].items())
    return {"device": f"NXP i.MX 93 ({report['options']['accelerator-config']}, {report['options']['system-config']})",
            "accelerator": "Ethos-U65 NPU", "runtime": f"Vela {report['vela_version']} performance estimate",
            "input_size": m.input.shape[1:3], "latency_ms": report["inference_time_ms"], "applies_to": built.artifact.id,
            "source": "estimated", "command": f"vela {options}", "date": dt.date.today().isoformat(),
            "note": f"{report['cycles']:,} NPU cycles at 1 GHz; the {report['cpu_ops']} operator(s) left on the CPU are not included"}


def rebuild_into_cache(m: Manifest, a: Artifact, parent_path: Path, parent_sha: str, cache: Cache,
                       progress: Progress) -> tuple[Path, str]:
    """Build `a` from its verified parent and admit it to the cache only if it matches its pin, like a download."""
    if a.sha256 is None:
        raise BuildFailed("select", f"{m.name}/{a.id} has no pinned sha256, so a rebuild could not be verified")
    work = Path(tempfile.mkdtemp(prefix="compile-", dir=cache.temp().parent))
    try:
        product, report, _, _ = _compile(m, a, parent_path, parent_sha, work, progress)
        digest = hashes.file_digest(product)
        try:
            hashes.check(digest, f"{a.file} rebuilt with vela {report.vela_version}", sha256=a.sha256, md5=None, size=a.size)
        except ChecksumMismatch as e:
            raise BuildFailed("verify", e.message, f"the pin was made with vela {pinned_version(a)}; "
                                                   f"install that version ({vela.INSTALL})") from None
        return cache.install(product, digest, m.name, a.id, a.file), digest.sha256
    finally:
        shutil.rmtree(work, ignore_errors=True)


def pinned_version(a: Artifact) -> str:
    return str((a.compile_stats or {}).get("vela_version", "unknown"))
