"""Latency of an artifact on this machine, in the terms `benchmark_model` reports, and what machine it was.

Init (interpreter + delegate + allocation), the first inference (on the i.MX 8M Plus this is when the VX
delegate compiles the graph, or loads it from VIV_VX_CACHE_BINARY_GRAPH_DIR when
VIV_VX_ENABLE_CACHE_GRAPH_BINARY=1), then steady-state runs after warm-up.
"""

from __future__ import annotations

import resource
import statistics
import time
from dataclasses import asdict, dataclass
from importlib import metadata

import numpy as np

from zoo.devices import cpu_model, detect
from zoo.runtime import Opened
from zoo.targets import get_target


@dataclass
class Machine:
    cpu: str
    cores: int
    arch: str
    board: str | None
    runtime: str
    delegate: str | None
    identity: str | None = None  # zoo detect's device identity (board and SoC), what auto matches latencies by

    @property
    def device(self) -> str:
        return self.identity or self.board or self.cpu


@dataclass
class Latency:
    init_ms: float
    first_ms: float
    mean_ms: float
    median_ms: float
    p90_ms: float
    min_ms: float
    std_ms: float
    runs: int
    warmup: int
    threads: int | None
    peak_rss_mb: float
    init_rss_mb: float


def machine(opened: Opened) -> Machine:
    found = detect()
    module = "ai-edge-litert" if found.interpreter == "ai_edge_litert" else "tflite-runtime"
    try:
        version = metadata.version(module)
    except metadata.PackageNotFoundError:
        version = "unknown"
    return Machine(cpu_model(), found.cores, found.arch, found.board, f"{module} {version}", opened.delegate, found.device)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def random_input(detail: dict, seed: int = 0) -> np.ndarray:
    """Input of the tensor's shape and dtype: uniform over the dtype's range (floats in [-1, 1])."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(detail["dtype"])
    if dtype.kind == "f":
        return rng.uniform(-1, 1, detail["shape"]).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, detail["shape"], endpoint=True, dtype=dtype)


def measure(make: callable, runs: int = 50, warmup: int = 5, threads: int | None = None) -> tuple[Opened, Latency]:
    """Build the interpreter with `make()` (timed as init), then time the first run, warm-up and steady runs."""
    t0 = time.perf_counter()
    opened = make()  # the interpreter comes allocated, so init covers allocation and delegate set-up
    it = opened.interpreter
    init = time.perf_counter() - t0
    init_rss = _rss_mb()
    inputs = [(d["index"], random_input(d)) for d in it.get_input_details()]
    for index, value in inputs:
        it.set_tensor(index, value)
    t0 = time.perf_counter()
    it.invoke()
    first = time.perf_counter() - t0
    for _ in range(warmup):
        it.invoke()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        it.invoke()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return opened, Latency(
        init_ms=init * 1e3, first_ms=first * 1e3, mean_ms=statistics.fmean(times), median_ms=statistics.median(times),
        p90_ms=times[min(len(times) - 1, int(0.9 * len(times)))], min_ms=times[0],
        std_ms=statistics.pstdev(times), runs=runs, warmup=warmup, threads=threads, peak_rss_mb=_rss_mb(), init_rss_mb=init_rss)


def report(opened: Opened, latency: Latency) -> dict:
    m = machine(opened)
    shape = opened.interpreter.get_input_details()[0]["shape"]
    return {"model": opened.manifest.name if opened.manifest else None,
            "artifact": opened.artifact.id if opened.artifact else None, "file": str(opened.path),
            "target": opened.target, "input_size": [int(shape[1]), int(shape[2])], "latency": asdict(latency),
            "machine": {**asdict(m), "device": m.device}}


def benchmark_entry(rep: dict, command: str, today: str) -> dict:
    """A manifest `benchmarks` entry for this measurement (source: measured), never replacing upstream figures."""
    lat, mach = rep["latency"], rep["machine"]
    target = get_target(rep["target"])
    accelerator = f"CPU ({mach['arch']}, {mach['cores']} cores)" if target.name == "cpu" else target.accelerator
    entry = {"device": mach["device"], "accelerator": accelerator, "runtime": mach["runtime"], "input_size": rep["input_size"],
             "latency_ms": round(lat["median_ms"], 2), "applies_to": rep["artifact"], "source": "measured", "command": command,
             "date": today, "note": f"median of {lat['runs']} after {lat['warmup']} warm-up; mean {lat['mean_ms']:.2f}, "
                                    f"p90 {lat['p90_ms']:.2f}, first {lat['first_ms']:.1f}, init {lat['init_ms']:.1f} ms; "
                                    f"CPU {mach['cpu']}"}
    if lat["threads"]:
        entry["threads"] = lat["threads"]
    return entry
