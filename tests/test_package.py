"""The shape of the package: public names, imports between zoo's modules, and one home for hashing and replacing."""

from __future__ import annotations

import ast
import subprocess
import sys
import types
from pathlib import Path

from conftest import REPO

ZOO = REPO / "zoo"


def modules() -> dict[str, Path]:
    """zoo's module names and files (packages by their __init__)."""
    out = {}
    for path in sorted(ZOO.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports(path: Path, known: set[str]) -> set[str]:
    """zoo modules a file imports, at the top, inside functions or for type checkers only (`if TYPE_CHECKING:`: they
    never run, but an arrow back up is a layering mistake all the same); 'from zoo import x' counts zoo.x when it is
    one."""
    found = set()
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("zoo"):
            subs = {f"{node.module}.{a.name}" for a in node.names} & known
            found |= subs or ({node.module} & known)
    return found


def test_zoos_modules_import_each_other_in_no_circle():
    known = modules()
    graph = {name: imports(path, set(known)) - {name, "zoo"} for name, path in known.items()}
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for nxt in sorted(graph[name]):
            if state.get(nxt) == 1:
                raise AssertionError("import circle: " + " -> ".join(trail[trail.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt, trail + [nxt])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_the_schema_sits_above_the_tasks_and_the_tasks_above_the_tensors():
    known = modules()
    tasks = {name: imports(path, set(known)) for name, path in known.items() if name.startswith("zoo.tasks")}
    assert all("zoo.manifest" not in found for found in tasks.values()), tasks
    assert "zoo.tasks" in imports(known["zoo.manifest"], set(known))
    assert "zoo.tensors" in tasks["zoo.tasks.base"] and "zoo.manifest" not in imports(known["zoo.tensors"], set(known))


def _scheme(node: ast.AST, schemes: tuple[str, ...]) -> str | None:
    """The string among `node` (a string, a tuple of them, an f-string's literal parts) that spells a scheme."""
    parts = node.elts if isinstance(node, ast.Tuple) else node.values if isinstance(node, ast.JoinedStr) else [node]
    for part in parts:
        if isinstance(part, ast.Constant) and isinstance(part.value, str) and any(s in part.value for s in schemes):
            return part.value
    return None


def test_only_sources_py_reads_a_source_strings_scheme():
    """A source kind's grammar lives in zoo/sources.py: nowhere else tests a string for a scheme with startswith, nor
    strips zoo's own (`hf://`, `oci://`, `member://`) with removeprefix. (Docker's config.json keys are http URLs
    oci.py strips: not sources.)"""
    found = []
    for path in sorted(ZOO.rglob("*.py")):
        if path == ZOO / "sources.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("startswith", "removeprefix") and node.args):
                prefix = _scheme(node.args[0], ("://",) if node.func.attr == "startswith" else ("hf://", "oci://", "member://"))
                if prefix is not None:
                    found.append(f"{path.relative_to(REPO)}:{node.lineno} {node.func.attr}({prefix!r})")
    assert found == []


def test_public_names_are_never_shadowed_by_submodules():
    """Importing a submodule sets it on the package: a submodule named like a public function replaces it (the
    README's `zoo.detect()` once crashed after `zoo.resolve(...)`). Checked after importing every module."""
    code = ("import importlib, pkgutil, zoo, zoo.cli\n"
            "for m in pkgutil.walk_packages(zoo.__path__, 'zoo.'):\n"
            "    if m.name != 'zoo.__main__':\n"
            "        importlib.import_module(m.name)\n"
            "import types\n"
            "bad = [n for n in zoo.__all__ if isinstance(getattr(zoo, n), types.ModuleType)]\n"
            "print(bad, sorted(n for n in dir(zoo) if not n.startswith('_')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    bad, public = proc.stdout.strip().split("] ", 1)
    assert bad == "["
    import zoo

    assert public == repr(sorted(zoo.__all__))
    assert not any(isinstance(getattr(zoo, n), types.ModuleType) for n in zoo.__all__)


def test_hashing_and_whole_file_replacement_each_have_one_home():
    for path in ZOO.rglob("*.py"):
        text = path.read_text()
        if path.name != "hashes.py":
            assert "import hashlib" not in text, f"{path}: hash with zoo.hashes"
        if path.name not in ("atomic.py", "cache.py"):
            assert "os.replace(" not in text, f"{path}: replace files with zoo.atomic"


def test_a_resolved_file_is_its_path_as_a_string(coral, zoo_env, tmp_path, monkeypatch):
    import shutil

    import zoo
    from loopback import StaticServer

    (tmp_path / "mirror" / "deeplabv3").mkdir(parents=True)
    shutil.copyfile(coral / "deeplabv3_mnv2_dm05_pascal_quant.tflite",
                    tmp_path / "mirror" / "deeplabv3" / "deeplabv3_mnv2_dm05_pascal_quant.tflite")
    with StaticServer(tmp_path / "mirror") as mirror:
        monkeypatch.setenv("ZOO_MIRRORS", mirror.base)
        r = zoo.resolve("deeplabv3", target="cpu")
    assert str(r) == str(r.path) and Path(str(r)).read_bytes()[4:8] == b"TFL3"
    assert callable(zoo.detect) and "cpu" in zoo.detect().targets
