"""The README's examples, executed: every ```python and ```bash block runs, offline, against a loopback mirror of the
real upstream files in ../shared, unless the line before it says `<!-- not run: WHY -->` (a block that needs the
internet, an accelerator or an account). The two set-up commands at the top are what CI itself runs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import REPO, SHARED, mirror_folder, shared_files
BLOCK = re.compile(r"(?:[ \t]*<!-- not run: (?P<why>[^>]+) -->\n)?[ \t]*```(?P<lang>python|bash)\n(?P<code>.*?)[ \t]*```",
                   re.S)


def blocks() -> list[tuple[str, str, str | None]]:
    """(language, code, why it is not run) of every fenced python/bash block after the two set-up commands."""
    found = [(m["lang"], textwrap.dedent(m["code"]), m["why"]) for m in BLOCK.finditer((REPO / "README.md").read_text())]
    return found[1:]


def test_every_block_not_run_says_why_and_most_run():
    found = blocks()
    assert found, "the README has examples"
    skipped = [why for _, _, why in found if why]
    assert all(why.strip() for why in skipped)
    assert 2 * len(skipped) < len(found), "most examples must run"


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    """A static mirror of every bundled artifact whose file is in ../shared, and the images the examples use in the
    working folder."""
    from loopback import StaticServer

    if not (SHARED / "coral" / "SHA256SUMS").is_file():
        pytest.skip(f"real upstream test data not found at {SHARED} (../shared is absent)")
    root = tmp_path_factory.mktemp("readme")
    (root / "shared").symlink_to(SHARED.parent, target_is_directory=True)  # ../shared from the work folder, as the README says
    files = shared_files()
    work = root / "work"
    work.mkdir()
    for image in ("bird.bmp", "cat.bmp", "squat.bmp", "grace_hopper.bmp"):
        if image in files:
            shutil.copyfile(files[image], work / image)
    with StaticServer(mirror_folder(root / "mirror")) as server:
        yield server, root


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("index", range(len(blocks())))
def test_readme_block_runs(index, mirror):
    lang, code, why = blocks()[index]
    if why:
        pytest.skip(f"README block {index} is not run: {why}")
    server, root = mirror
    bindir = str(Path(sys.executable).parent)
    env = {**os.environ, "ZOO_MIRRORS": server.base, "ZOO_CACHE_DIR": str(root / f"cache{index}"), "PORT": str(free_port()),
           "ZOO_RECORDS_DIR": str(root / "records"), "PATH": bindir + os.pathsep + os.environ["PATH"]}
    env.pop("ZOO_MANIFESTS", None)
    command = [sys.executable, "-c", code] if lang == "python" else ["bash", "-euo", "pipefail", "-c", code]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=root / "work", env=env, timeout=600)
    assert proc.returncode == 0, f"README block {index} ({lang}) failed:\n{code}\n--- stderr:\n{proc.stderr[-3000:]}"


def test_the_offline_recipe_alone_serves_the_other_examples(tmp_path):
    """The **Offline** block is how a reader runs the README's examples with no internet: its mirror alone (no
    fixture's) must serve the models and calibration images the later examples use."""
    if not (SHARED / "coral" / "SHA256SUMS").is_file():
        pytest.skip(f"real upstream test data not found at {SHARED} (../shared is absent)")
    offline = next(code for lang, code, _ in blocks() if lang == "bash" and "ZOO_MIRRORS=" in code and "http.server" in code)
    (tmp_path / "shared").symlink_to(SHARED.parent, target_is_directory=True)
    (tmp_path / "work").mkdir()
    later = ("zoo fetch mobilenet-v2 --target cpu\n"
             "zoo predict movenet-lightning squat.bmp --target cpu\n"
             "zoo build face-detection-short-range --target cpu --check -o build/\n")
    env = {**os.environ, "ZOO_CACHE_DIR": str(tmp_path / "cache"), "PORT": str(free_port()),
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]}
    for name in ("ZOO_MIRRORS", "ZOO_MANIFESTS", "ZOO_OFFLINE"):
        env.pop(name, None)
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", offline + later], capture_output=True, text=True,
                          cwd=tmp_path / "work", env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
