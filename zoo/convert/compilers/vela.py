"""Arm Vela, the offline compiler for the Ethos-U65 NPU of the NXP i.MX 93: run it and read its report.

The options match the board. The i.MX 93 NPU is an Ethos-U65 with 256 MACs per cycle. NXP's Vela fork
(nxp-imx/ethos-u-vela, `ethosu/vela/architecture_features.py`) defaults an Ethos-U65 to a system it calls
"Client-Server" (1 GHz, DRAM at 3/4 of the core clock, the same latencies) and a dedicated 384 KiB SRAM
arena: exactly Arm's `Ethos_U65_Client_Server` and `Dedicated_Sram_384KB` sections of `Arm/vela.ini`. Vela's
output is byte-identical for the same input, version and options, so all of them are recorded.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from typing import TYPE_CHECKING

from zoo.convert.compilers import Compiled
from zoo.convert.record import Check
from zoo.errors import CompileFailed, CompilerMissing, install_extra

if TYPE_CHECKING:
    from zoo.manifest import Artifact, Manifest

OPTIONS = {
    "accelerator-config": "ethos-u65-256",
    "config": "Arm/vela.ini",
    "system-config": "Ethos_U65_Client_Server",
    "memory-mode": "Dedicated_Sram_384KB",
}
INSTALL = install_extra("imx93") + ": Arm's ethos-u-vela at the version zoo pins, no TensorFlow needed"
# the entries of a compile report that enter the bytes (a pin that is not rebuilt names those that differ)
DETERMINANTS = ("vela_version", "options")
_CPU_OP = re.compile(r"^Warning \(supported operators\) operator: (\S+), ofm: '([^']*)'\s*\nReason: (.+)$", re.M)


@dataclass
class VelaReport:
    """What Vela says about one compile: where the operators run, memory, MACs, cycles, its latency estimate."""

    vela_version: str
    options: dict[str, str]
    npu_ops: int
    cpu_ops: int
    cpu_operators: list[dict[str, str]] = field(default_factory=list)
    sram_used_bytes: int = 0
    dram_used_bytes: int = 0
    arena_cache_bytes: int = 0
    macs: int = 0
    cycles: int = 0
    inference_time_ms: float = 0.0

    def to_dict(self) -> dict:
        return {"compiler": "vela", **asdict(self)}


def find_compiler() -> tuple[str, str]:
    """(path, version) of vela, next to this Python (an unactivated virtualenv) or on PATH; else CompilerMissing."""
    path = shutil.which("vela", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if path is None:
        raise CompilerMissing("vela (Arm's Ethos-U compiler) not found on PATH", INSTALL)
    out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60).stdout.strip()
    return path, out.splitlines()[-1] if out else "unknown"


def command(path: str, model: Path, out_dir: Path, options: dict[str, str] = OPTIONS) -> list[str]:
    return [path, *(a for k, v in options.items() for a in (f"--{k}", v)), "--output-dir", str(out_dir), str(model)]


def _count(label: str, log: str) -> int:
    match = re.search(rf"^{label} operators = (\d+)", log, re.M)
    if match is None:
        raise CompileFailed(f"vela printed no '{label} operators' line", "its output format may have changed")
    return int(match.group(1))


def parse(log: str, summary_csv: Path, version: str, options: dict[str, str]) -> VelaReport:
    """The report from Vela's stdout (operator counts, why operators stay on the CPU) and its summary CSV."""
    with open(summary_csv, newline="") as f:
        row = next(csv.DictReader(f))
    kib = lambda key: round(float(row[key]) * 1024)  # noqa: E731  (the CSV gives KiB)
    return VelaReport(
        vela_version=version,
        options=dict(options),
        npu_ops=_count("NPU", log),
        cpu_ops=_count("CPU", log),
        cpu_operators=[{"op": op, "output": ofm, "reason": reason.strip()} for op, ofm, reason in _CPU_OP.findall(log)],
        sram_used_bytes=kib("sram_memory_used"),
        dram_used_bytes=kib("dram_memory_used"),
        arena_cache_bytes=kib("arena_cache_size"),
        macs=int(float(row["nn_macs"])),
        cycles=int(float(row["cycles_total"])),
        inference_time_ms=round(float(row["inference_time"]) * 1000, 3),
    )


MACS_TOLERANCE = 0.05


def gates(m: Manifest, report: VelaReport) -> list[Check]:
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


def compile(parent: Path, out_dir: Path, m: Manifest, a: Artifact | None = None,
            inputs: dict[str, Path] | None = None) -> Compiled:
    """Vela on `parent` with the board's options: the product, its report and the gates (see `gates`)."""
    product, report = compile_model(parent, out_dir)
    return Compiled(product, report.to_dict(), {"name": "vela", "version": report.vela_version, "options": report.options},
                    gates(m, report))


def estimate(m: Manifest, artifact_id: str, compiled: Compiled) -> dict:
    """A manifest `benchmarks` entry for Vela's latency estimate (source: estimated, never measured)."""
    report = compiled.report
    options = " ".join(f"--{k} {v}" for k, v in report["options"].items())
    return {"device": f"NXP i.MX 93 ({report['options']['accelerator-config']}, {report['options']['system-config']})",
            "accelerator": "Ethos-U65 NPU", "runtime": f"Vela {report['vela_version']} performance estimate",
            "input_size": m.input.shape[1:3], "latency_ms": report["inference_time_ms"], "applies_to": artifact_id,
            "source": "estimated", "command": f"vela {options}", "date": dt.date.today().isoformat(),
            "note": f"{report['cycles']:,} NPU cycles at 1 GHz; the {report['cpu_ops']} operator(s) left on the CPU are not included"}


def compile_model(model: Path, out_dir: Path, options: dict[str, str] = OPTIONS) -> tuple[Path, VelaReport]:
    """Run vela on an int8/uint8 TFLite file; returns the compiled `<stem>_vela.tflite` and the report."""
    path, version = find_compiler()
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run(command(path, model, out_dir, options), capture_output=True, text=True, timeout=1800)
    except subprocess.TimeoutExpired:
        raise CompileFailed("vela did not finish in 30 minutes") from None
    compiled = out_dir / f"{model.stem}_vela.tflite"
    summaries = sorted(out_dir.glob(f"{model.stem}_summary_*.csv"))
    if proc.returncode != 0 or not compiled.is_file() or not summaries:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise CompileFailed(f"vela exited {proc.returncode} without {compiled.name}", tail[0])
    return compiled, parse(proc.stdout, summaries[0], version, options)
