"""Recipes: build, inspect."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from zoo import present
from zoo.errors import ZooError
from zoo.cli._app import JsonOpt, NameArg, QuietOpt, _json, _out, _progress, _target, app


@app.command()
def build(
    name: NameArg,
    target: Annotated[Optional[list[str]], typer.Option("--target", "-t", help="Build only these targets (repeatable; default: every artifact zoo builds).")] = None,
    out: Annotated[Path, typer.Option("--output", "-o", "--out", metavar="DIR",
                                      help="Output folder for the .tflite files and their .build.json records.")] = Path("build"),
    calibration: Annotated[Optional[str], typer.Option(metavar="DIR|random", help="Folder of real images (e.g. VOC2012/JPEGImages), or 'random' for a smoke build.")] = None,
    samples: Annotated[Optional[int], typer.Option(metavar="N", help="Calibration images to use (default: the manifest's calibration_samples, 100).")] = None,
    input_size: Annotated[Optional[int], typer.Option(metavar="N", help="Square input size (Keras recipes; a smoke build unless it is the manifest's).")] = None,
    weights: Annotated[str, typer.Option(metavar="pretrained|random|PATH", help="pretrained (the manifest's upstream), random (smoke build), or a weights file path.")] = "pretrained",
    trust_upstream: Annotated[bool, typer.Option(help="Accept an upstream with no pinned checksum; prints its sha256.")] = False,
    record: Annotated[bool, typer.Option(help="Write size, sha256, parent, recipe and compile stats into the manifest.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Rebuild and compare with the published artifact by behaviour (I/O, ops, argmax agreement) and bytes.")] = False,
    compile_timeout: Annotated[int, typer.Option(metavar="SECONDS", help="Seconds edgetpu_compiler may take.")] = 600,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Rebuild a model's artifacts: upstream, int8 with float (or uint8) I/O, checks, Edge TPU compile, record.

    A recipe's artifacts need the build extra (TensorFlow, imported here only); one compiled from another artifact
    needs its compiler's extra: imx93 (Vela), imx8mp (the NPU rewrite) or quantize (ai-edge-quantizer, for models
    published as float .tflite files).
    """
    try:
        from zoo.convert.runner import Options
        from zoo.convert.runner import build as run_build
    except ModuleNotFoundError as e:
        from zoo.errors import install_extra

        raise ZooError(f"zoo build needs the build extra ({e.name} is not installed)",
                       f"{install_extra('build')}; a file compiled from another artifact needs only its compiler's "
                       "extra: imx93, imx8mp or quantize") from None
    from zoo.progress import StderrProgress

    opts = Options(targets=target or [], out=out, calibration=calibration, samples=samples, input_size=input_size,
                   weights=weights, trust_upstream=trust_upstream, record=record, check=check,
                   compile_timeout=compile_timeout)
    results = run_build(name, opts, StderrProgress(bar=False, quiet=quiet))
    if as_json:
        _json([r.to_dict() for r in results])
        return
    for r in results:
        d = r.to_dict()
        _out(f"{d['artifact']} ({d['target']}){' [smoke build: never publish]' if d['smoke'] else ''}")
        _out(f"  file    {d['path']}\n  sha256  {d['sha256']}\n  size    {d['size']:,} B")
        for kind in ("input", "output"):
            for t in d[f"{kind}s"]:
                _out(f"  {kind:<7} {t['dtype']} {t['shape']}")
        for c in d["checks"]:
            _out(f"  check   {c['name']}: {'ok' if c['passed'] else 'FAILED'} ({c['detail']})")
        for note in d["notes"]:
            _out(f"  note    {note}")
        _out(f"  record  {d['record']}")


@app.command()
def inspect(
    model: Annotated[str, typer.Argument(metavar="FILE_OR_NAME", help="A .tflite file, or a model name (its artifact for --target is fetched).")],
    target: Annotated[str, typer.Option("--target", "-t", metavar="TARGET", callback=_target,
                                        help="For a model name: whose artifact to inspect (default cpu; auto detects). "
                                             "imx8mp adds the NPU report: which operators NXP's VX delegate takes, in "
                                             "how many partitions.")] = "cpu",
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Show a .tflite file's inputs, outputs, quantization, op histogram and accelerator ops, without TensorFlow;
    with -t imx8mp, what the i.MX 8M Plus NPU's delegate takes of it."""
    from zoo.tflite import inspect as read_model

    path = Path(model)
    if not path.is_file():
        if model.endswith(".tflite") or os.sep in model or path.exists():
            raise ZooError(f"{model}: no such file" if not path.exists() else f"{model} is not a file",
                           "give the path of a .tflite file, or a model name from `zoo list`")
        from zoo.resolver import resolve

        path = resolve(model, target, progress=_progress(quiet)).path
    info = read_model(path)
    npu = None
    if target == "imx8mp":
        from zoo.convert.compilers.vx import report

        npu = report(path).to_dict()
    if as_json:
        _json({**info.to_dict(), **({"npu": npu} if npu else {})})
    else:
        _out(present.inspect_text(info) + (f"\n{present.npu_text(npu)}" if npu else ""))
