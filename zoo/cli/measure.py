"""Measuring: bench, eval, predict."""

from __future__ import annotations

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
    data: Annotated[Path, typer.Option("--data", metavar="DIR", help="PASCAL VOC 2012 folder (JPEGImages/, SegmentationClass/, ImageSets/), or images/ + masks/.")],
    split: Annotated[str, typer.Option(help="ImageSets/Segmentation/SPLIT.txt for VOC layouts.")] = "val",
    limit: Annotated[Optional[int], typer.Option(min=1, metavar="N", help="Only the first N images.")] = None,
    target: TargetOpt = "auto",
    dataset: Annotated[Optional[str], typer.Option(metavar="NAME", help="Dataset name for --record (default: PASCAL VOC 2012 for VOC layouts).")] = None,
    like: LikeOpt = None,
    record: RecordOpt = False,
    allow_small: Annotated[bool, typer.Option(help="With --record: record even an evaluation on fewer than 100 images.")] = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """mIoU, pixel accuracy and per-class IoU (in %) on a dataset, compared with the manifest's figure for the artifact
    on the same dataset and split."""
    import datetime as dt

    from zoo import evaluate as ev
    from zoo.runtime import open_any
    from zoo.segment import Segmenter

    progress = _progress(quiet)
    opened = open_any(model, target, like, fallback=False, progress=progress)
    layout, result = ev.evaluate(Segmenter(opened), data, split, limit, progress)
    name, split = ev.describe(layout, data, split, dataset)
    artifact = opened.artifact.id if opened.artifact else None
    out = {"model": opened.manifest.name, "artifact": artifact, "layout": layout, "dataset": name, "split": split,
           **result.to_dict(), "manifest_mIoU": ev.comparisons(opened.manifest, artifact, result, name, split)}
    if record:
        ev.recordable(result, allow_small)
        _append_to_manifest(opened, "metrics", ev.metric_entry(result, opened.artifact.id, name, split, _command_line(),
                                                                 dt.date.today().isoformat()))
    if as_json:
        _json(out)
    else:
        _out(present.eval_text(out))


@app.command()
def predict(
    model: ModelArg,
    image: Annotated[Path, typer.Argument(metavar="IMAGE", help="The image to segment.")],
    out: Annotated[Optional[str], typer.Option("--output", "-o", "--out", metavar="PATH",
                                                help="The colour mask to write, or a folder for it (default: IMAGE_mask.png); "
                                                     "the class-id mask and the overlay go beside it.")] = None,
    target: TargetOpt = "auto",
    like: LikeOpt = None,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Segment one image: write the PASCAL-coloured mask, a class-id mask and an overlay; print the classes found."""
    from zoo.runtime import open_any
    from zoo.segment import Segmenter
    from zoo.segment import predict as segment_one

    rgb = _read_image(image)  # before any model is fetched or loaded
    mask_path = _output(out, f"{image.stem}_mask.png") if out else image.with_name(f"{image.stem}_mask.png")
    result = segment_one(Segmenter(open_any(model, target, like, progress=_progress(quiet))), rgb, mask_path)
    if as_json:
        _json(result)
    else:
        for found in result["classes"]:
            _out(f"{found['label']:<14} {found['share']:7.2%}")
        if not quiet:
            _err(f"wrote {result['mask']}, {result['ids']} and {result['overlay']}")


def _read_image(path: Path):
    """The image as RGB, or one line saying why it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    if not path.exists():
        raise ZooError(f"{path}: no such file", "give the path of an image (JPEG, PNG, BMP)")
    if not path.is_file():
        raise ZooError(f"{path} is not a file", "give the path of an image (JPEG, PNG, BMP)")
    try:
        with Image.open(path) as picture:
            return picture.convert("RGB")
    except (UnidentifiedImageError, OSError) as e:
        raise ZooError(f"{path} is not an image zoo can read ({type(e).__name__})", "give a JPEG, PNG or BMP file") from None
