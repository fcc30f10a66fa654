"""`zoo bench` against a bare LiteRT interpreter loop on the same model and thread count.

Both run as fresh processes, alternating, 3 times each; the ratio of their median steady-state latencies is
zoo's measurement overhead (target: within 5%).

    python bench/latency.py [MODEL.tflite] [THREADS] [RUNS]
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from _common import ZOO, report

DEFAULT = Path(__file__).resolve().parent.parent.parent / "shared" / "testdata" / "coral" / "deeplabv3_mnv2_dm05_pascal_quant.tflite"
BARE = """
import statistics, sys, time
import numpy as np
from ai_edge_litert.interpreter import Interpreter
it = Interpreter(model_path=sys.argv[1], num_threads=int(sys.argv[2]))
it.allocate_tensors()
d = it.get_input_details()[0]
it.set_tensor(d["index"], np.random.default_rng(0).integers(0, 255, d["shape"], dtype=d["dtype"]))
for _ in range(6):
    it.invoke()
times = []
for _ in range(int(sys.argv[3])):
    t0 = time.perf_counter()
    it.invoke()
    times.append((time.perf_counter() - t0) * 1e3)
print(statistics.median(times))
"""


def main(model: str = str(DEFAULT), threads: int = 2, runs: int = 50) -> None:
    zoo_cmd = [*ZOO, "bench", model, "--threads", str(threads), "--runs", str(runs), "--warmup", "5", "--json"]
    bare_cmd = [sys.executable, "-c", BARE, model, str(threads), str(runs)]
    zoo_ms, bare_ms = [], []
    for _ in range(3):
        bare_ms.append(float(subprocess.run(bare_cmd, check=True, capture_output=True, text=True).stdout))
        zoo_ms.append(json.loads(subprocess.run(zoo_cmd, check=True, capture_output=True, text=True).stdout)["latency"]["median_ms"])
    b, z = min(bare_ms), min(zoo_ms)
    report(f"steady-state latency of {Path(model).name}, {threads} threads, {runs} runs (best median of 3 processes)",
           [("bare LiteRT loop", b, "ms"), ("zoo bench", z, "ms")], "zoo / bare", z / b, "<= 1.05")


if __name__ == "__main__":
    main(*sys.argv[1:2], *(int(a) for a in sys.argv[2:]))
