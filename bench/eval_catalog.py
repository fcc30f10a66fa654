"""Whole-catalog evaluation: every bundled model x every file that runs on this machine, on its data (classifiers on
the ImageNet sample set, every other model on COCO val2017's first 128 images), as `zoo eval NAME --data DIR
--artifacts all` runs them, 2 threads, files served from a loopback mirror of ../shared into an empty cache (the
i.MX 8M Plus files are derived on the first fetch; that is timed apart). Prints each model's files, images and
seconds, and the total.

    python bench/eval_catalog.py [--limit N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from _common import workdir

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "testdata"
DATA = {"image-classification": (SHARED / "imagenet-samples-250", "val")}
COCO = (SHARED / "coco-val2017-128", "val2017")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=None, help="only the first N images of each dataset")
    args = parser.parse_args()
    if not COCO[0].is_dir():
        sys.exit(f"needs ../shared: {COCO[0]}")
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import mirror_folder
    from loopback import StaticServer

    work = workdir()
    with StaticServer(mirror_folder(work / "mirror")) as server:
        os.environ.update({"ZOO_MIRRORS": server.base, "ZOO_CACHE_DIR": str(work / "cache")})
        from zoo import catalog
        from zoo.errors import ZooError
        from zoo.evaluation import evaluate
        from zoo.progress import Progress
        from zoo.resolver import resolve

        cat = catalog.load([])
        t0 = time.perf_counter()
        for name in cat.names():
            m = cat.get(name)
            for a in m.artifacts:
                try:
                    resolve(f"{name}/{a.id}", progress=Progress())
                except ZooError:  # a file that cannot be had here: the evaluation below lists it with why
                    pass
        fetched = time.perf_counter() - t0
        total_images = total_seconds = 0.0
        print(f"{'model':<28} {'ran':<26} {'images':>7} {'seconds':>8}  metric; agreement with the reference")
        for name in cat.names():
            m = cat.get(name)
            data, split = DATA.get(m.task, COCO)
            t = time.perf_counter()
            report = evaluate(m, data, "all", split, args.limit, 2, Progress())
            seconds = time.perf_counter() - t
            ran = [r for r in report.rows if r.status == "ran"]
            images = sum(r.images for r in ran)
            total_images, total_seconds = total_images + images, total_seconds + seconds
            figures = "; ".join(f"{r.artifact} {'-' if r.value is None else f'{r.value:.2f}'}"
                                + (f" ({r.agreement:.1f} %)" if r.agreement is not None and r.artifact != report.reference else "")
                                for r in ran)
            print(f"{name:<28} {','.join(r.artifact for r in ran) or '-':<26} {images:>7} {seconds:>8.1f}  "
                  f"{report.dataset.metric or 'agreement only'}: {figures}")
        print(f"fetching and deriving every file first: {fetched:.1f} s")
        print(f"whole catalog: {total_images:.0f} model-images in {total_seconds:.1f} s "
              f"({total_images / total_seconds:.1f} images/s)")


if __name__ == "__main__":
    main()
