"""`zoo eval` throughput per task against a bare LiteRT loop doing the same preparation (zoo.preprocess.prepare, the
input quantized as LiteRT's details say) and reading the same outputs, both with two threads, in the same run:
classification (Google's MobileNet v2 on 60 ImageNet sample images), detection (Google's SSD MobileNet v1 on 40 COCO
images: zoo's time includes reading the YOLO labels and pycocotools' AP) and segmentation (Google's DeepLab v3 dm0.5
on 20 COCO images: zoo's includes reading the panoptic masks and scoring). Target: zoo at least 0.9x the bare
loop's images per second for each.

    python bench/eval.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from _common import report, timings

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "testdata"
COCO, IMAGENET = SHARED / "coco-val2017-128", SHARED / "imagenet-samples-250"
RUNS = 5
CASES = [  # (what, file, like, data, split, images)
    ("classification", SHARED / "coral-tasks" / "mobilenet_v2_1.0_224_quant.tflite", None, IMAGENET, "val", 60),
    ("detection", SHARED / "tflite-support" / "coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite", "ssd-bench", COCO,
     "val2017", 128),
    ("segmentation", SHARED / "coral" / "deeplabv3_mnv2_dm05_pascal_quant.tflite", None, COCO, "val2017", 20),
]


def ssd_manifest_folder() -> Path:
    """The tests' description of Google's SSD file as a user manifest (ZOO_MANIFESTS)."""
    import os

    import yaml

    sys.path.insert(0, str(REPO / "tests"))
    from test_evaluation import ssd_manifest

    folder = Path(tempfile.mkdtemp(prefix="zoo-bench-"))
    doc = {**ssd_manifest(), "name": "ssd-bench"}
    (folder / "ssd-bench.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    os.environ["ZOO_MANIFESTS"] = str(folder)
    return folder


def main() -> None:
    missing = [str(c[1]) for c in CASES if not c[1].is_file()] + [str(d) for d in (COCO, IMAGENET) if not d.is_dir()]
    if missing:
        sys.exit(f"needs ../shared: {', '.join(missing)}")
    ssd_manifest_folder()
    from ai_edge_litert.interpreter import Interpreter

    from zoo.evaluation import evaluate_loaded
    from zoo.model import Model
    from zoo.preprocess import as_input, prepare, values
    from zoo.progress import Progress
    from zoo.runtime import open_file

    for what, file, like, data, split, n in CASES:
        model = Model(open_file(file, like, num_threads=2))
        ds = model.task.dataset(data, model.manifest, split)
        images = [path for path, _ in ds.samples[:n]]

        def with_zoo() -> None:
            evaluate_loaded(model, data, split, n, Progress())

        interpreter = Interpreter(model_path=str(file), num_threads=2)
        interpreter.allocate_tensors()
        inp, outs = interpreter.get_input_details()[0], interpreter.get_output_details()

        def bare() -> None:
            for path in images:
                interpreter.set_tensor(inp["index"], as_input(prepare(path, model.manifest.input).array, inp))
                interpreter.invoke()
                [values(o, interpreter.get_tensor(o["index"])) for o in outs]

        bare(), with_zoo()  # warm-up
        runs = [(timings(1, bare)[0], timings(1, with_zoo)[0]) for _ in range(RUNS)]  # interleaved: a busy machine
        t_bare, t_zoo = min(b for b, _ in runs), min(z for _, z in runs)  # disturbs both alike
        report(f"zoo eval, {what}: {model.manifest.name} over {n} images of {data.name}, 2 threads (best of {RUNS}, "
               "interleaved)",
               [("bare LiteRT loop, same preparation", n / t_bare, "images/s"),
                ("zoo eval (dataset, predictions, metric)", n / t_zoo, "images/s")],
               "zoo throughput / bare", t_bare / t_zoo, ">= 0.9")


if __name__ == "__main__":
    main()
