"""Shared helpers for the benchmarks: the tests' loopback server, timing, a throwaway zoo environment."""

from __future__ import annotations

import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from loopback import Server  # noqa: E402, F401  (re-exported: the benchmarks serve files with the tests' server)

ZOO = [sys.executable, "-m", "zoo"]


def timings(n: int, fn) -> list[float]:
    """Wall times of n runs of fn(), in seconds."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def best_of(n: int, fn) -> float:
    """The least disturbed of n runs."""
    return min(timings(n, fn))


def median_of(n: int, fn) -> float:
    return statistics.median(timings(n, fn))


def run(cmd: list[str], env: dict | None = None) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)


def workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="zoo-bench-"))


def write_manifest(folder: Path, name: str, file: str, data: bytes, sources: list[str]) -> None:
    """A one-artifact cpu manifest pinning `data`."""
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    doc = {
        "schema_version": 2, "name": name, "family": "bench", "task": "semantic-segmentation",
        "description": "benchmark payload", "license": "Apache-2.0", "homepage": "https://example.invalid",
        "inputs": [{"shape": [1, 8, 8, 3], "layout": "NHWC", "color_order": "RGB", "dtype": "float32",
                    "preprocessing": {"resize": "stretch", "mean": [0.0], "scale": [1.0]}}],
        "outputs": [{"shape": [1, 8, 8], "kind": "class-ids"}],
        "head": {"labels": ["a"]},
        "artifacts": [{"id": "cpu", "target": "cpu", "format": "tflite", "precision": "int8", "input_dtype": "float32",
                       "output_dtype": "float32", "file": file, "size": len(data),
                       "sha256": hashlib.sha256(data).hexdigest(), "sources": sources, "recipe": "bench"}],
    }
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(doc))


def env(**extra: str) -> dict:
    return {**os.environ, **extra}


def report(title: str, rows: list[tuple[str, float, str]], ratio_name: str, ratio: float, target: str | None) -> None:
    print(f"\n{title}")
    for label, value, unit in rows:
        print(f"  {label:<48} {value:10.3f} {unit}")
    print(f"  {ratio_name:<48} {ratio:10.2f}x" + (f"   (target {target})" if target else ""))
