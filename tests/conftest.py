"""Shared fixtures: the real Coral files in ../shared (when present) and a minimal valid manifest."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORAL = REPO.parent / "shared" / "testdata" / "coral"
CORAL_TASKS = REPO.parent / "shared" / "testdata" / "coral-tasks"

# Never the real user's folders: --record copies of installed manifests would land in the user data dir.
os.environ["ZOO_RECORDS_DIR"] = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"zoo-test-records-{os.getpid()}")
# Subprocesses (python -m zoo, recipe.sh) import this checkout too, whatever is installed and wherever they run.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))

MINIMAL = {
    "schema_version": 2,
    "name": "tiny",
    "family": "test",
    "task": "semantic-segmentation",
    "description": "a tiny test model",
    "license": "Apache-2.0",
    "homepage": "https://example.invalid/tiny",
    "inputs": [{
        "shape": [1, 8, 8, 3],
        "layout": "NHWC",
        "color_order": "RGB",
        "dtype": "float32",
        "preprocessing": {"resize": "stretch", "mean": [127.5] * 3, "scale": [1 / 127.5] * 3},
    }],
    "outputs": [{"shape": [1, 8, 8, 3], "kind": "logits"}],
    "head": {"labels": ["background", "a", "b"], "ignore_label": 255},
    "artifacts": [
        {
            "id": "cpu-int8",
            "target": "cpu",
            "format": "tflite",
            "precision": "int8",
            "input_dtype": "float32",
            "output_dtype": "float32",
            "file": "tiny.tflite",
            "size": 1234,
            "sha256": "a" * 64,
            "sources": ["http://127.0.0.1:1/tiny.tflite"],
            "recipe": "made by the tests",
        }
    ],
}


@pytest.fixture
def minimal() -> dict:
    """A fresh deep copy of a valid manifest to mutate."""
    return copy.deepcopy(MINIMAL)


@pytest.fixture(scope="session")
def coral() -> Path:
    """../shared/testdata/coral, or skip: those real upstream files are not in this checkout."""
    if not (CORAL / "SHA256SUMS").is_file():
        pytest.skip(f"real Coral test data not found at {CORAL} (../shared is absent)")
    return CORAL


@pytest.fixture(scope="session")
def coral_tasks() -> Path:
    """../shared/testdata/coral-tasks (Google's classifiers and MoveNet), or skip."""
    if not (CORAL_TASKS / "SHA256SUMS").is_file():
        pytest.skip(f"real Coral task test data not found at {CORAL_TASKS} (../shared is absent)")
    return CORAL_TASKS


SHARED = REPO.parent / "shared" / "testdata"


def shared_files() -> dict[str, Path]:
    """Every file in ../shared/testdata by name (names are unique there)."""
    return {p.name: p for p in SHARED.rglob("*") if p.is_file()}


def mirror_folder(root: Path) -> Path:
    """A static mirror (ZOO_MIRRORS layout: <model>/<file>) of every bundled artifact and upstream file (calibration
    images) whose file is in ../shared."""
    import yaml

    files = shared_files()
    for manifest in (REPO / "manifests").glob("*.yaml"):
        doc = yaml.safe_load(manifest.read_text())
        for a in (*doc["artifacts"], *doc.get("upstream", [])):
            if a["file"] in files:
                (root / doc["name"]).mkdir(parents=True, exist_ok=True)
                dest = root / doc["name"] / a["file"]
                if not dest.exists():
                    dest.symlink_to(files[a["file"]])
    return root


@pytest.fixture
def shared_mirror(coral, coral_tasks, tmp_path, monkeypatch):
    """Google's real files for every bundled model served from a loopback web server as ZOO_MIRRORS, into an empty
    cache: the bundled catalog fetches as it would from the internet."""
    from loopback import StaticServer

    with StaticServer(mirror_folder(tmp_path / "mirror")) as server:
        monkeypatch.setenv("ZOO_MIRRORS", server.base)
        monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
        monkeypatch.delenv("ZOO_OFFLINE", raising=False)
        monkeypatch.delenv("ZOO_MANIFESTS", raising=False)
        yield server


@pytest.fixture
def server():
    """A fault-injecting HTTP server on 127.0.0.1 (see tests/loopback.py)."""
    from loopback import Server

    with Server() as s:
        yield s


@pytest.fixture
def zoo_env(tmp_path, monkeypatch):
    """An empty cache and a user manifest folder in tmp_path, fast retries, short timeouts."""
    cache, manifests = tmp_path / "cache", tmp_path / "manifests"
    manifests.mkdir()
    monkeypatch.setenv("ZOO_CACHE_DIR", str(cache))
    monkeypatch.setenv("ZOO_MANIFESTS", str(manifests))
    monkeypatch.setenv("ZOO_RETRY_BACKOFF", "0.01")
    monkeypatch.setenv("ZOO_READ_TIMEOUT", "2")
    for name in ("ZOO_OFFLINE", "ZOO_TARGET"):
        monkeypatch.delenv(name, raising=False)
    return manifests


def write_model(folder: Path, name: str, artifacts: list[dict], upstream: list[dict] | None = None) -> Path:
    """Write a manifest for `name` whose artifacts are given as partial dicts over MINIMAL's first artifact."""
    import yaml

    data = copy.deepcopy(MINIMAL)
    data["name"] = name
    base = data["artifacts"][0]
    data["artifacts"] = [{**base, **a} for a in artifacts]
    if upstream:
        data["upstream"] = upstream
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def pinned(data: bytes, **extra) -> dict:
    """Artifact fields pinning `data` by size and sha256."""
    import hashlib

    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), **extra}


@pytest.fixture
def tmpfs(tmp_path):
    """mount(size="1m", ro=False) -> a real tmpfs folder, unmounted afterwards; remount(folder, "ro") flips it.

    Skips with the reason where mount is not permitted (no root, no CAP_SYS_ADMIN)."""
    import subprocess

    mounted = []

    def mount(size: str = "4m") -> Path:
        folder = tmp_path / f"tmpfs{len(mounted)}"
        folder.mkdir()
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, text=True)
        if proc.returncode:
            pytest.skip(f"mount is not permitted here ({proc.stderr.strip()}), so no real full or read-only filesystem")
        mounted.append(folder)
        return folder

    yield mount
    for folder in reversed(mounted):
        subprocess.run(["umount", "-l", str(folder)], check=False)


def remount(folder: Path, mode: str) -> None:
    import subprocess

    subprocess.run(["mount", "-o", f"remount,{mode}", str(folder)], check=True)


@pytest.fixture(scope="session", autouse=True)
def _checkout_manifests_stay_untouched():
    """--record edits a checkout's own manifests: no test may leave a trace in this checkout's."""
    before = {p.name: p.read_bytes() for p in (REPO / "manifests").glob("*.yaml")}
    yield
    after = {p.name: p.read_bytes() for p in (REPO / "manifests").glob("*.yaml")}
    assert after == before, f"tests changed the checkout's manifests: {sorted(k for k in after if after[k] != before.get(k))}"
