"""Measuring: bench, eval, predict."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from zoo import present
from zoo.cli._app import (
    JsonOpt,
    QuietOpt,
    LikeOpt,
    ModelArg,
    RecordOpt,
    TargetOpt,
    _err,
    _json,
    _out,
    _output,
    _progress,
    app,
    given_path,
)
from zoo.errors import ZooError


def _command_line() -> str:
    return " ".join(["zoo", *sys.argv[1:]])


def _append_to_manifest(opened, key: str, entry: dict) -> None:
    from zoo.manifest_edit import append_measured

    if opened.manifest is None or opened.artifact is None:
        raise ZooError(f"{opened.path} is not an artifact of a manifest, so there is nowhere to record to")
    _err(f"recorded in {append_measured(opened.manifest.name, key, entry)}")


@app.command("bench")
def bench_(
    model: ModelArg,
    target: TargetOpt = "auto",
    threads: Annotated[Optional[int], typer.Option(metavar="N", help="CPU threads for LiteRT (default: LiteRT's choice).")] = None,
    runs: Annotated[int, typer.Option(min=1, metavar="N", help="Timed runs after warm-up.")] = 50,
    warmup: Annotated[int, typer.Option(min=0, metavar="N", help="Untimed runs after the first one.")] = 5,
    like: LikeOpt = None,
    record: RecordOpt = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Measure init, first-run and steady-state latency (mean, median, p90, min, std) and peak memory.

    The model is loaded with its target's delegate (libedgetpu, VX, Ethos-U) and never silently swapped
    for another file. On the i.MX 8M Plus the first run compiles the graph for the NPU; set
    VIV_VX_ENABLE_CACHE_GRAPH_BINARY=1 and VIV_VX_CACHE_BINARY_GRAPH_DIR=DIR to cache it across runs.
    """
    import datetime as dt

    from zoo import bench as measure_bench
    from zoo.runtime import open_any

    kwargs = {"num_threads": threads} if threads else {}
    progress = _progress(quiet)
    opened, latency = measure_bench.measure(lambda: open_any(model, target, like, fallback=False, progress=progress, **kwargs),
                                            runs, warmup, threads)
    rep = measure_bench.report(opened, latency)
    if record:
        _append_to_manifest(opened, "benchmarks", measure_bench.benchmark_entry(rep, _command_line(), dt.date.today().isoformat()))
    if as_json:
        _json(rep)
    else:
        _out(present.bench_text(rep))


@app.command("eval")
def eval_(
    model: ModelArg,
    data: Annotated[Path, typer.Option("--data", metavar="DIR", help="The dataset. Classification: one sub-folder of "
                                       "images per class (named by label, id, or WNID with a synsets.txt), optionally "
                                       "below SPLIT/. Detection: COCO annotations/instances_SPLIT.json, or YOLO "
                                       "labels/SPLIT/*.txt with a data.yaml naming the classes. Segmentation: COCO "
                                       "panoptic, class-index masks with a config.yaml naming the classes, PASCAL VOC "
                                       "2012, or images/ + masks/.")],
    artifacts: Annotated[Optional[str], typer.Option(metavar="all|ID,...", help="Run these files of NAME on the same "
                                                     "images (all: every one; those that need their device are listed "
                                                     "as such) and compare each with the float reference.")] = None,
    split: Annotated[str, typer.Option(help="The split: a folder or file name part (val, val2017).")] = "val",
    limit: Annotated[Optional[int], typer.Option(min=1, metavar="N", help="Only the first N images.")] = None,
    target: TargetOpt = "auto",
    threads: Annotated[Optional[int], typer.Option(metavar="N", help="CPU threads for LiteRT (default: LiteRT's choice).")] = None,
    dataset: Annotated[Optional[str], typer.Option(metavar="NAME", help="Dataset name to compare and record under "
                                                   "(default: PASCAL VOC 2012 for VOC layouts, else the folder's name).")] = None,
    like: LikeOpt = None,
    record: RecordOpt = False,
    allow_small: Annotated[bool, typer.Option(help="With --record: record even an evaluation on fewer than 100 images.")] = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """The task's metric on a dataset, in %: top-1 and top-5 for classification, AP@[.5:.95] (mAP) and AP50 by
    pycocotools for detection, mIoU (or a one-class model's IoU) for segmentation; with --artifacts, every file of the
    model on the same images in one table, each against the float reference (difference and agreement)."""
    import datetime as dt

    from zoo import evaluation
    from zoo.catalog import get
    from zoo.model import Model
    from zoo.runtime import open_any

    progress = _progress(quiet)
    if artifacts is None:  # the file `target` resolves to (or a .tflite path): one row
        m = Model(open_any(model, target, like, fallback=False, progress=progress, **({"num_threads": threads} if threads else {})))
        report = evaluation.evaluate_loaded(m, data, split, limit, progress, dataset)
    else:
        report = evaluation.evaluate(get(model), data, artifacts, split, limit, threads, progress, dataset)
    out = report.to_dict()
    manifest = get(report.model)
    out["manifest"] = [{"artifact": r.artifact, **c} for r in report.rows if r.value is not None
                       for c in evaluation.comparisons(manifest, report, r)]
    first = next((r for r in report.rows if r.status == "ran"), None)
    if first is not None:  # the first file's figures at the top level, as a single-file eval has always printed them
        out.update({"artifact": first.artifact, "images": first.images, **first.figures})
    if record:
        if artifacts is None and m.artifact is None:
            raise ZooError(f"{m.path} is not an artifact of a manifest, so there is nowhere to record to")
        entries = evaluation.metric_entries(report, _command_line(), dt.date.today().isoformat())
        if not entries:
            raise ZooError(f"nothing to record: {report.dataset.no_metric or 'no file ran here'}")
        small = min(e["images"] for e in entries)
        if small < MIN_RECORDED_IMAGES and not allow_small:
            raise ZooError(f"an evaluation on {small} image(s) is not recorded (the minimum is {MIN_RECORDED_IMAGES})",
                           "evaluate the whole split, or pass --allow-small to record it anyway")
        from zoo.manifest_edit import record_metrics

        _err(f"recorded {len(entries)} figure(s) in {record_metrics(report.model, entries)}")
    if as_json:
        _json(out)
    else:
        _out(present.eval_text(out))


MIN_RECORDED_IMAGES = 100
"""An evaluation smaller than this is not written into a manifest unless asked explicitly: one image says little."""


@app.command()
def predict(
    model: ModelArg,
    image: Annotated[Path, typer.Argument(metavar="IMAGE", help="The image (JPEG, PNG, BMP).")],
    out: Annotated[Optional[str], typer.Option("--output", "-o", "--out", metavar="PATH", callback=given_path,
                                                help="Write a picture (a file, or a folder for it; nothing is written "
                                                     "without -o): the skeleton on the photo for pose, the boxes for "
                                                     "detection, the labels for classification; for segmentation the "
                                                     "colour mask (IMAGE_mask.png in a folder), with the class-id mask "
                                                     "(_ids.png) and the overlay (_overlay.png) beside it. A file that "
                                                     "exists is never overwritten without --force.")] = None,
    force: Annotated[bool, typer.Option("--force", help="With -o: replace files that exist (a link is replaced, never "
                                                        "written through).")] = False,
    top_k: Annotated[int, typer.Option("--top-k", min=1, metavar="K", help="Classification: how many classes.")] = 5,
    target: TargetOpt = "auto",
    like: LikeOpt = None,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Run the model on one image and print what its task finds: the best classes, the keypoints, or the classes a
    segmentation found with their share of the pixels; --json prints the result as zoo.load(NAME).predict(IMAGE)
    .to_dict() gives it, plus the files written."""
    from zoo.model import Model
    from zoo.preprocess import as_image
    from zoo.runtime import open_any
    from zoo.tasks.base import PICTURE_SUFFIXES, refuse_existing

    if out and not (Path(out).is_dir() or out.endswith(("/", os.sep))) and Path(out).suffix.lower() not in PICTURE_SUFFIXES:
        raise typer.BadParameter(f"{out!r} does not end in a picture's extension: {', '.join(PICTURE_SUFFIXES)}",
                                 param_hint="-o")
    picture = as_image(image)  # before any model is fetched or loaded, as is a named output that exists
    if out and not (out.endswith(("/", os.sep)) or Path(out).expanduser().is_dir()):
        refuse_existing([Path(out).expanduser()], force)
    m = Model(open_any(model, target, like, progress=_progress(quiet)))
    result = m.predict(picture, top_k=top_k)
    written = m.task.write(picture, result, _output(out, m.task.output_name(image)), replace=force) if out else {}
    if as_json:
        _json({**result.to_dict(), **written})
        return
    _out(m.task.text(result))
    if written and not quiet:
        _err("wrote " + ", ".join(written.values()))
