"""Recipe overhead and what int8 buys, at 513x513 with random-weight stand-ins (no upstream download).

1. `zoo build` of a DeepLab v3 MobileNetV2 dm0.5 int8 float-I/O artifact (the deeplabv3 imx8mp recipe's
   settings, on coral-deeplab's v3 architecture with random weights) vs a bare TFLiteConverter script with
   the same settings and calibration: time ratio (target <= 1.1x). zoo also converts the float reference
   and runs its checks; that is the overhead measured.
2. CPU latency with LiteRT (XNNPACK, same threads) of the built int8 model vs its float32 source (target:
   int8 >= 1.5x faster) and vs Google's quantized dm0.5 model in ../shared (target: within 1.2x).

    python bench/build.py [SAMPLES] [THREADS]
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from _common import report, workdir

SIZE = 513
GOOGLE = Path(__file__).resolve().parent.parent.parent / "shared" / "testdata" / "coral" / "deeplabv3_mnv2_dm05_pascal_quant.tflite"


def latency(path: Path, threads: int, runs: int = 10) -> float:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path), num_threads=threads)
    it.allocate_tensors()
    d = it.get_input_details()[0]
    x = np.zeros(d["shape"], d["dtype"])
    it.set_tensor(d["index"], x)
    it.invoke()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        it.invoke()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main(samples: int = 10, threads: int = 2) -> None:
    work = workdir()
    os.environ.update(ZOO_MANIFESTS=str(work / "manifests"), ZOO_CACHE_DIR=str(work / "cache"))
    import tensorflow as tf

    from zoo.convert import calibration, quantize
    from zoo.convert.recipes import recipe_module
    from zoo.convert.runner import Options, build

    cdl = recipe_module("coral_deeplab")
    deeplab = yaml.safe_load((Path(__file__).resolve().parent.parent / "manifests" / "coral-deeplabv3-dm05.yaml").read_text())
    deeplab.update(name="standin", aliases=[], benchmarks=[])
    deeplab["artifacts"] = [a for a in deeplab["artifacts"] if a["id"] == "cpu-int8"]
    (work / "manifests").mkdir()
    (work / "manifests" / "standin.yaml").write_text(yaml.safe_dump(deeplab))

    from zoo.tensors import Input

    inp = Input(**deeplab["inputs"][0])

    def bare() -> float:
        t0 = time.perf_counter()
        bare_model = cdl.build_model("v3", depth_multiplier=0.5, input_size=SIZE, classes=21)
        calib = calibration.random_noise(inp, SIZE, samples)
        quantize.to_int8(lambda: tf.lite.TFLiteConverter.from_keras_model(bare_model), calib, "float32")
        return time.perf_counter() - t0

    def zoo_build() -> float:
        t0 = time.perf_counter()
        built.append(build("standin", Options(out=work / "out", calibration="random", samples=samples, weights="random"))[0])
        return time.perf_counter() - t0

    built: list = []
    runs = [(bare(), zoo_build()) for _ in range(2)]  # alternate, so neither gets the process's warm-up for free
    t_bare, t_zoo = min(b for b, _ in runs), min(z for _, z in runs)
    built = built[-1]
    bare_model = cdl.build_model("v3", depth_multiplier=0.5, input_size=SIZE, classes=21)
    (work / "float.tflite").write_bytes(quantize.to_float(lambda: tf.lite.TFLiteConverter.from_keras_model(bare_model)))

    report(f"build at {SIZE}x{SIZE}, {samples} calibration samples (best of 2, alternating)", [("bare TFLiteConverter int8 script", t_bare, "s"),
           ("zoo build (float ref + int8 + checks + record)", t_zoo, "s")], "zoo time / bare time", t_zoo / t_bare, "<= 1.1")

    l_int8, l_float = latency(built.path, threads), latency(work / "float.tflite", threads)
    rows = [("float32 source", l_float * 1e3, "ms"), ("zoo int8, float I/O", l_int8 * 1e3, "ms")]
    report(f"LiteRT CPU latency, {threads} threads, median of 10", rows, "float32 time / int8 time", l_float / l_int8, ">= 1.5")
    if GOOGLE.is_file():
        l_google = latency(GOOGLE, threads)
        report("same, against Google's quantized dm0.5 DeepLab v3 (uint8 I/O, in-model ArgMax)",
               [("Google deeplabv3_mnv2_dm05_pascal_quant", l_google * 1e3, "ms"), ("zoo int8, float I/O", l_int8 * 1e3, "ms")],
               "zoo time / Google time", l_int8 / l_google, "<= 1.2")
    shutil.rmtree(work)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
