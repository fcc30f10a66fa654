"""`zoo eval` throughput: Google's MobileNet v2 over a folder of images (60: Coral's cat, bird and squat photos, 20
copies each, as one class folder), against a bare LiteRT loop doing the same preparation (zoo.preprocess.prepare,
the input quantized as LiteRT's details say) and the same top-5, both with two threads, in the same run.
Target: zoo at least 0.9x the bare loop's images per second.

    python bench/eval.py
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from _common import best_of, report, workdir

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "testdata"
PHOTOS = [SHARED / "coral-tasks" / "cat.bmp", SHARED / "coral" / "bird.bmp", SHARED / "coral-tasks" / "squat.bmp"]
FILE = SHARED / "coral-tasks" / "mobilenet_v2_1.0_224_quant.tflite"


def main() -> None:
    if not FILE.is_file():
        sys.exit(f"needs Google's MobileNet v2 file in {FILE.parent} (../shared)")
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    import zoo
    from zoo.model import Model
    from zoo.preprocess import as_input, prepare, values
    from zoo.progress import Progress
    from zoo.runtime import open_file

    work = workdir()
    folder = work / "images" / "Egyptian cat"
    folder.mkdir(parents=True)
    for i in range(20):
        for photo in PHOTOS:
            shutil.copyfile(photo, folder / f"{i}-{photo.name}")
    images = sorted(folder.iterdir())
    manifest = zoo.get("mobilenet-v2")

    model = Model(open_file(FILE, num_threads=2))
    assert model.manifest.name == "mobilenet-v2"

    def with_zoo() -> None:
        model.task.evaluate(model, work / "images", "all", None, Progress())

    interpreter = Interpreter(model_path=str(FILE), num_threads=2)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]

    def bare() -> None:
        for path in images:
            interpreter.set_tensor(inp["index"], as_input(prepare(path, manifest.input).array, inp))
            interpreter.invoke()
            np.argsort(-values(out, interpreter.get_tensor(out["index"])).reshape(-1))[:5]

    bare(), with_zoo()  # warm-up
    t_bare, t_zoo = best_of(3, bare), best_of(3, with_zoo)
    n = len(images)
    report(f"zoo eval over {n} images, 2 threads (best of 3)",
           [("bare LiteRT loop, same preparation", n / t_bare, "images/s"), ("zoo eval (task.evaluate)", n / t_zoo, "images/s")],
           "zoo throughput / bare", t_bare / t_zoo, ">= 0.9")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
