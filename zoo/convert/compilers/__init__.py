"""Compilers that make a target's file from a parent file, one module each (named by the target's `compiler`), behind
one protocol:

    INSTALL                                        how to install it
    find_compiler() -> (what, version)             CompilerMissing says how to install it
    compile(parent, out_dir, m, a, inputs) -> Compiled
                                                   artifact `a` of `m` from its verified parent file and the verified
                                                   files it names (`inputs`, by upstream id: calibration images): the
                                                   product, its report (an artifact's compile_stats), the tool, and the
                                                   gates it passed or failed against the board and manifest
    estimate(m, artifact_id, compiled) -> dict | None
                                                   a latency estimate for the manifest (source: estimated), if any
    review(path) -> (report, gates)                optional: the target's verdict on a file another tool made
    DETERMINANTS                                   the report's entries that enter the bytes (a rebuild that misses
                                                   its pin names those that differ from the pin's compile_stats)

`vela` (Arm's Vela for the i.MX 93's Ethos-U65), `vx` (the i.MX 8M Plus rewrite) and `aeq` (ai-edge-quantizer, for
float files published upstream) give the same bytes on every run, so their products are pinned and rebuilt like
downloads. `edgetpu` (Coral's edgetpu_compiler, inside `zoo build`) does not: 16 bytes change on every run.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from typing import TYPE_CHECKING

from zoo.convert.record import Check

if TYPE_CHECKING:
    from zoo.manifest import Artifact


@dataclass
class Compiled:
    path: Path
    report: dict
    tool: dict
    checks: list[Check]

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]


def python_tool(modules: tuple[str, ...], missing: str, install: str, packages: tuple[str, ...]) -> tuple[str, str]:
    """(the first module, "package version, ...") of a compiler made of Python packages; CompilerMissing saying
    `missing` and how to `install` it when a module cannot be imported."""
    from importlib import metadata

    from zoo.errors import CompilerMissing

    try:
        for module in modules:
            importlib.import_module(module)
    except ImportError:
        raise CompilerMissing(missing, install) from None
    return modules[0], ", ".join(f"{p} {metadata.version(p)}" for p in packages)


def compiler_module(name: str) -> ModuleType:
    return importlib.import_module(f"zoo.convert.compilers.{name}")


def compiler_for(a: Artifact) -> ModuleType:
    """The compiler module that makes artifact `a` from its parent file."""
    return compiler_module(a.compiler.name)
