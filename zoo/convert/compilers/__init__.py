"""Compilers that make a target's file from a parent file, one module each (named by the target's `compiler`), behind
one protocol:

    INSTALL                                        how to install it
    find_compiler() -> (what, version)             CompilerMissing says how to install it
    compile(parent, out_dir, m) -> Compiled        the product, its report (an artifact's compile_stats), the tool,
                                                   and the gates it passed or failed against the board and manifest
    estimate(m, artifact_id, compiled) -> dict | None
                                                   a latency estimate for the manifest (source: estimated), if any

`vela` (Arm's Vela for the i.MX 93's Ethos-U65) and `vx` (the i.MX 8M Plus rewrite) give the same bytes on every run,
so their products are pinned and rebuilt like downloads. `edgetpu` (Coral's edgetpu_compiler, inside `zoo build`) does
not: 16 bytes change on every run.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from zoo.convert.record import Check
from zoo.targets import get_target


@dataclass
class Compiled:
    path: Path
    report: dict
    tool: dict
    checks: list[Check]

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]


def compiler_for(target: str) -> ModuleType:
    """The compiler module that makes `target`'s files from a parent file."""
    return importlib.import_module(f"zoo.convert.compilers.{get_target(target).compiler}")
