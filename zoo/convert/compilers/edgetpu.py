"""Edge TPU compilation: find `edgetpu_compiler`, run it, and parse what it reports.

The report's shape, from real logs of versions 2.1 to 16 (tests/edgetpu_logs.py cites each): the compiler prints
"Number of operations that will run on Edge TPU/CPU" only when some run on the CPU; `-s` adds an operator table
whose every status but "Mapped to Edge TPU" means the CPU; a failure ends in "Compilation failed!" after a
"Compilation failed: <reason>" line.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from zoo.errors import CompileFailed, CompilerMissing

INSTALL = (
    "edgetpu_compiler runs on x86-64 Linux only. Install it from Coral's apt repository: "
    "curl https://packages.cloud.google.com/apt/doc/apt-key.gpg | sudo apt-key add - ; "
    'echo "deb https://packages.cloud.google.com/apt coral-edgetpu-stable main" | '
    "sudo tee /etc/apt/sources.list.d/coral-edgetpu.list ; sudo apt-get update ; sudo apt-get install edgetpu-compiler"
)
MAPPED = "Mapped to Edge TPU"
_SIZE_UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}




@dataclass
class CompileStats:
    compiler_version: str
    subgraphs: int
    total_ops: int
    tpu_ops: int
    cpu_ops: int
    on_chip_bytes: int | None
    off_chip_bytes: int | None
    operators: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def tpu_share(self) -> float:
        return self.tpu_ops / self.total_ops if self.total_ops else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "tpu_share": round(self.tpu_share, 4)}


def find_compiler() -> tuple[str, str]:
    """(path, version) of edgetpu_compiler, or CompilerMissing with the install instructions."""
    path = shutil.which("edgetpu_compiler")
    if path is None:
        raise CompilerMissing("edgetpu_compiler not found on PATH", INSTALL)
    out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60).stdout
    match = re.search(r"version\s+(\S+)", out)
    return path, match.group(1) if match else out.strip()


def _bytes(text: str | None) -> int | None:
    match = re.fullmatch(r"([\d.]+)\s*(B|KiB|MiB|GiB)", text.strip()) if text else None
    return round(float(match.group(1)) * _SIZE_UNITS[match.group(2)]) if match else None


def _find(pattern: str, log: str) -> str | None:
    match = re.search(pattern, log, re.M)
    return match.group(1) if match else None


def parse_log(log: str) -> CompileStats:
    """Structured data from the compiler's stdout (`-s` adds the per-operator table)."""
    if "compiled successfully" not in log:
        reason = _find(r"^Compilation failed: (.+?)\s*$", log) or (log.strip().splitlines()[-1] if log.strip() else "no output")
        raise CompileFailed("edgetpu_compiler did not compile the model", reason)
    operators: dict[str, dict[str, int]] = {}
    table = log.split("Operator", 1)[1] if re.search(r"^Operator\s+Count\s+Status", log, re.M) else ""
    for name, count, status in re.findall(r"^([A-Z][A-Z0-9_]+)\s+(\d+)\s+(\S.*?)\s*$", table, re.M):
        where = "tpu" if status.startswith(MAPPED) else "cpu"
        entry = operators.setdefault(name, {"tpu": 0, "cpu": 0})
        entry[where] += int(count)
    total = int(_find(r"^Total number of operations:\s*(\d+)", log) or sum(sum(v.values()) for v in operators.values()))
    tpu = _find(r"^Number of operations that will run on Edge TPU:\s*(\d+)", log)
    cpu = _find(r"^Number of operations that will run on CPU:\s*(\d+)", log)
    tpu_ops = int(tpu) if tpu is not None else total  # no counts printed: nothing was left on the CPU
    return CompileStats(
        compiler_version=_find(r"Edge TPU Compiler version (\S+)", log) or "unknown",
        subgraphs=int(_find(r"^Number of Edge TPU subgraphs:\s*(\d+)", log) or 0),
        total_ops=total,
        tpu_ops=tpu_ops,
        cpu_ops=int(cpu) if cpu is not None else total - tpu_ops,
        on_chip_bytes=_bytes(_find(r"^On-chip memory used for caching model parameters:\s*(.+)$", log)),
        off_chip_bytes=_bytes(_find(r"^Off-chip memory used for streaming uncached model parameters:\s*(.+)$", log)),
        operators=operators,
    )


def command(path: str, version: str, model: Path, out_dir: Path, timeout: int, multiple_subgraphs: bool) -> list[str]:
    """The compiler's arguments: `-s` (the operator table), `-a` (multiple subgraphs) when asked, and `-t`
    (a timeout) only for version 16 on, the first that knows it."""
    major = re.match(r"(\d+)", version)
    return [path, "-s", *(["-a"] if multiple_subgraphs else []),
            *(["-t", str(timeout)] if major and int(major.group(1)) >= 16 else []), "-o", str(out_dir), str(model)]


def compile_model(model: Path, out_dir: Path, timeout: int = 600, multiple_subgraphs: bool = False) -> tuple[Path, CompileStats]:
    """Run edgetpu_compiler on `model` (see `command`); returns the compiled file and its stats."""
    path, version = find_compiler()
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run(command(path, version, model, out_dir, timeout, multiple_subgraphs),
                              capture_output=True, text=True, timeout=timeout + 60)
    except subprocess.TimeoutExpired:
        raise CompileFailed(f"edgetpu_compiler did not finish in {timeout + 60} s", "raise the timeout or simplify the model") from None
    stats = parse_log(proc.stdout + proc.stderr)
    compiled = out_dir / f"{model.stem}_edgetpu.tflite"
    if proc.returncode != 0 or not compiled.is_file():
        raise CompileFailed(f"edgetpu_compiler exited {proc.returncode} without {compiled.name}", proc.stderr.strip()[-300:])
    return compiled, stats
