"""What a build leaves behind: the result of each artifact, its checks, and a JSON build record beside the output."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

from zoo import atomic
from zoo.manifest import Artifact, Manifest


@dataclass
class Check:
    name: str
    passed: bool
    detail: str

    def to_dict(self) -> dict:
        return {"name": self.name, "passed": self.passed, "detail": self.detail}


@dataclass
class Built:
    artifact: Artifact
    path: Path
    sha256: str
    size: int
    checks: list[Check]
    record_path: Path
    smoke: bool
    compile_stats: dict | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        from zoo.tflite import inspect

        info = inspect(self.path)
        return {"artifact": self.artifact.id, "target": self.artifact.target, "path": str(self.path), "file": self.path.name,
                "sha256": self.sha256, "size": self.size, "smoke": self.smoke, "record": str(self.record_path),
                "inputs": [vars(t) for t in info.inputs], "outputs": [vars(t) for t in info.outputs],
                "checks": [c.to_dict() for c in self.checks], "notes": self.notes, "compile_stats": self.compile_stats}


def make(m: Manifest, a: Artifact, sha256: str, size: int, *, made_from: dict, tool: dict, checks: list[Check],
         smoke: bool = False, calibration: dict | None = None, compile: dict | None = None, notes: list[str] | None = None,
         **extra) -> dict:
    """The one shape of a build record, whatever made the file: what it was made from (an upstream input or a parent
    artifact, with its sha256), the tool (name, version, settings), calibration and compile report where there were
    any, and the checks it passed."""
    return {"model": m.name, "artifact": a.id, "target": a.target, "file": a.file, "sha256": sha256, "size": size,
            "built_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "smoke": smoke,
            "made_from": made_from, "tool": tool, "calibration": calibration, "compile": compile,
            "checks": [c.to_dict() for c in checks], "notes": list(notes or []), **extra}


def write_record(path: Path, record: dict) -> Path:
    """Write `<output>.build.json` atomically."""
    atomic.write(path, json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")
    return path


def tool_text(tool: dict) -> str:
    """A build tool as a person reads it: its name and version, the name once when the version already starts with it
    (a Python tool's version lists its packages: "ai-edge-quantizer 0.10.0, ai-edge-litert 2.3.0")."""
    name, version = str(tool.get("name", "")), str(tool.get("version") or "")
    if not version or version == name or version.startswith(name + " "):
        return version or name
    return f"{name} ({version})" if " " in version else f"{name} {version}"
