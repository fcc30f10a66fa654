"""The `zoo` command: thin typer commands over the library.

Results go to stdout, messages to stderr; a known error is one line and exit 1
(ZOO_DEBUG=1 shows the traceback), a usage error exits 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from zoo import catalog, manifest, present, settings
from zoo.errors import ManifestInvalid, ZooError
from zoo.targets import TARGETS

app = typer.Typer(
    help="zoo: fetch the right, verified model file for your accelerator.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout (nothing else goes to stdout).")]
NameArg = Annotated[str, typer.Argument(help="Model name or alias (see `zoo list`).")]


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def _json(obj: object) -> None:
    _out(json.dumps(obj, indent=2, default=str))


def _load_catalog() -> catalog.Catalog:
    cat = catalog.load()
    for w in cat.warnings:
        _err(f"warning: {w}")
    for p in cat.problems:
        _err(f"warning: skipped invalid manifest {p.path} ({len(p.problems)} problem(s); run `zoo validate`)")
    return cat


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """List the models in the catalog: task, input, classes, mIoU and targets."""
    cat = _load_catalog()
    manifests = [cat.get(n) for n in cat.names()]
    if as_json:
        _json([present.summary(m) for m in manifests])
    else:
        _out(present.list_table(manifests))


@app.command()
def info(name: NameArg, as_json: JsonOpt = False) -> None:
    """Show everything a manifest says about one model (aliases work)."""
    entry = _load_catalog().entry(name)
    if as_json:
        _json(entry.manifest.model_dump(mode="json", exclude_none=True))
    else:
        _out(present.info_text(entry.manifest, str(entry.path)))


@app.command()
def validate(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Manifest files or folders (default: the whole catalog).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Validate manifests; one line per problem as `path: field: message`, exit 1 if any."""
    if paths:
        files = [f for p in paths for f in catalog.manifest_files(p)]
        checked, problems = len(files), []
        for f in files:
            try:
                manifest.load(f)
            except ManifestInvalid as e:
                problems.append(e)
    else:
        cat = catalog.load()
        checked, problems = len(cat.entries) + len(cat.problems), cat.problems
    lines = [(p.path, field, msg) for p in problems for field, msg in p.problems]
    if as_json:
        _json({"checked": checked, "valid": checked - len(problems),
               "problems": [{"path": p, "field": f, "message": m} for p, f, m in lines]})
    else:
        for p, f, m in lines:
            _out(f"{p}: {f}: {m}")
        _err(f"{checked - len(problems)} of {checked} manifest(s) valid")
    if problems:
        raise typer.Exit(1)


@app.command()
def targets(as_json: JsonOpt = False) -> None:
    """Show the known targets, their runtime delegates and fallback chains."""
    if as_json:
        _json(present.targets_json())
    else:
        _out(present.targets_table())


@app.command()
def detect(
    as_json: JsonOpt = False,
    root: Annotated[Path, typer.Option(help="Read /sys, /dev, /proc and /usr under this directory instead of /.")] = Path("/"),
) -> None:
    """Detect accelerators and runtimes from files (no model is run); list usable targets, best first."""
    from zoo.detect import detect as run_detect

    found = run_detect(root)
    if as_json:
        _json(found.to_dict())
    else:
        _out(present.detection_text(found))


TargetOpt = Annotated[str, typer.Option("--target", "-t", help=f"auto (detect; ZOO_TARGET overrides) or one of: {', '.join(TARGETS)}.")]


@app.command()
def fetch(
    name: NameArg,
    target: TargetOpt = "auto",
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Also copy the file here (a path or a folder).")] = None,
    offline: Annotated[bool, typer.Option(help="Never touch the network (also ZOO_OFFLINE=1).")] = False,
    strict: Annotated[bool, typer.Option(help="Fail instead of falling back when the target's artifact is unpublished.")] = False,
    explain: Annotated[bool, typer.Option(help="Say why this artifact was chosen (on stderr).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or notes; errors still go to stderr.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Fetch a model's artifact for this machine (or --target), verified and cached; print its path last."""
    from zoo.fetch import export, resolve
    from zoo.progress import StderrProgress

    progress = StderrProgress(bar=sys.stderr.isatty(), quiet=quiet)
    resolved = resolve(name, target, offline=offline or None, strict=strict, explain=explain and not quiet, progress=progress)
    copied = export(resolved, output) if output else None
    if as_json:
        _json({**resolved.to_dict(), "output": str(copied) if copied else None})
    else:
        if copied:
            _err(f"copied to {copied}")
        _out(str(resolved.path))


@app.command()
def build(
    name: NameArg,
    target: Annotated[Optional[list[str]], typer.Option("--target", "-t", help="Build only these targets (repeatable; default: every artifact zoo builds).")] = None,
    out: Annotated[Path, typer.Option(help="Output folder for the .tflite files and their .build.json records.")] = Path("build"),
    calibration: Annotated[Optional[str], typer.Option(help="Folder of real images (e.g. VOC2012/JPEGImages), or 'random' for a smoke build.")] = None,
    samples: Annotated[Optional[int], typer.Option(help="Calibration images to use (default: the manifest's calibration_samples, 100).")] = None,
    input_size: Annotated[Optional[int], typer.Option(help="Square input size (Keras recipes; a smoke build unless it is the manifest's).")] = None,
    weights: Annotated[str, typer.Option(help="pretrained (the manifest's upstream), random (smoke build), or a weights file path.")] = "pretrained",
    trust_upstream: Annotated[bool, typer.Option(help="Accept an upstream with no pinned checksum; prints its sha256.")] = False,
    record: Annotated[bool, typer.Option(help="Write size, sha256, parent, recipe and compile stats into the manifest.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Rebuild and compare with the published artifact by behaviour (I/O, ops, argmax agreement) and bytes.")] = False,
    compile_timeout: Annotated[int, typer.Option(help="Seconds edgetpu_compiler may take.")] = 600,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No step notes.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Rebuild a model's artifacts: upstream, int8 with float (or uint8) I/O, checks, Edge TPU compile, record.

    Needs the build extra (pip install 'zoo[build]'): TensorFlow is imported here only.
    """
    from zoo.build.runner import Options, build as run_build
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
        (i,), (o,) = d["inputs"], d["outputs"]
        _out(f"{d['artifact']} ({d['target']}){' [smoke build: never publish]' if d['smoke'] else ''}")
        _out(f"  file    {d['path']}\n  sha256  {d['sha256']}\n  size    {d['size']:,} B")
        _out(f"  input   {i['dtype']} {i['shape']}\n  output  {o['dtype']} {o['shape']}")
        for c in d["checks"]:
            _out(f"  check   {c['name']}: {'ok' if c['passed'] else 'FAILED'} ({c['detail']})")
        _out(f"  record  {d['record']}")


@app.command()
def inspect(
    model: Annotated[str, typer.Argument(help="A .tflite file, or a model name (its artifact for --target is fetched).")],
    target: TargetOpt = "cpu",
    as_json: JsonOpt = False,
) -> None:
    """Show a .tflite file's inputs, outputs, quantization, op histogram and accelerator ops, without TensorFlow."""
    from zoo.build.inspect import inspect as read_model

    path = Path(model)
    if not path.is_file():
        from zoo.fetch import resolve
        from zoo.progress import StderrProgress

        path = resolve(model, target, progress=StderrProgress(bar=sys.stderr.isatty())).path
    info = read_model(path)
    if as_json:
        _json(info.to_dict())
    else:
        _out(present.inspect_text(info))


@app.command()
def publish(
    name: NameArg,
    repo: Annotated[Optional[str], typer.Option(help="Hugging Face repo OWNER/REPO to upload to in one commit.")] = None,
    to: Annotated[Optional[Path], typer.Option(help="Write a static mirror folder instead (any file server can serve it).")] = None,
    url: Annotated[Optional[str], typer.Option(help="With --to --record: the URL the folder is served at.")] = None,
    target: Annotated[Optional[list[str]], typer.Option("--target", "-t", help="Only these targets (repeatable).")] = None,
    from_dir: Annotated[Optional[Path], typer.Option("--from", help="A `zoo build --out` folder (else published files from the cache).")] = None,
    private: Annotated[bool, typer.Option(help="Create the Hub repo as private.")] = False,
    revision: Annotated[Optional[str], typer.Option(help="Branch to commit to (created if needed).")] = None,
    dry_run: Annotated[bool, typer.Option(help="Print what would be uploaded and the model card; no network.")] = False,
    record: Annotated[bool, typer.Option(help="Put the new source first in the manifest (pinned to the commit).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Publish verified artifacts, the manifest, build records and a model card to the Hub (or a folder)."""
    from zoo import publish as pub
    from zoo.progress import StderrProgress

    if (repo is None) == (to is None):
        raise typer.BadParameter("give exactly one of --repo OWNER/REPO or --to DIR")
    p = pub.plan(name, target or [], from_dir, repo, StderrProgress(bar=sys.stderr.isatty()))
    result = p.to_dict()
    if dry_run:
        result["card"] = p.card
        if as_json:
            _json(result)
        else:
            for f in result["files"]:
                _out(f"{f['path']}  {f['size']:,} B  sha256 {f['sha256']}")
            _out("\n" + p.card)
        return
    if to is not None:
        result["index"] = str(pub.to_directory(p, to))
        if record:
            if not url:
                raise typer.BadParameter("--to --record needs --url: the http(s) address the folder is served at")
            pub.record_sources(p, lambda file: f"{url.rstrip('/')}/{p.manifest.name}/{file}")
    else:
        from zoo.hub import push

        commit = push(repo, p.uploads, f"zoo publish {p.manifest.name}", private=private, revision=revision)
        result["commit"] = commit
        if record:
            pub.record_sources(p, lambda file: pub.hf_source(repo, commit, file))
    if as_json:
        _json(result)
    else:
        _out(result.get("index") or f"https://huggingface.co/{repo}/tree/{result['commit']}")


@app.command()
def card(
    name: NameArg,
    out: Annotated[Optional[Path], typer.Option(help="Write the card here instead of stdout.")] = None,
) -> None:
    """Generate the Hugging Face model card (README.md) of a model from its manifest."""
    from zoo import card as model_card

    text = model_card.render(_load_catalog().get(name))
    model_card.validate(text)
    if out:
        out.write_text(text)
        _err(f"wrote {out}")
    else:
        _out(text)


@app.command()
def bundle(
    name: NameArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="The .tar file to write.")],
    target: Annotated[Optional[list[str]], typer.Option("--target", "-t", help="Only these targets (repeatable).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Pack a model's published artifacts, manifest, checksums and license into one tar for air-gapped devices."""
    from zoo import bundle as bundles
    from zoo.progress import StderrProgress

    index = bundles.create(name, output, target or [], StderrProgress(bar=sys.stderr.isatty()))
    if as_json:
        _json({**index, "output": str(output)})
    else:
        for f in index["files"]:
            _err(f"packed {f['artifact']} ({f['file']}, {f['size']:,} B)")
        _out(str(output))


@app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="A bundle made by `zoo bundle`.")],
    manifests: Annotated[Optional[Path], typer.Option(help="Also write the bundle's manifest into this folder (for ZOO_MANIFESTS).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Verify every file of a bundle, then install them into the cache so `zoo fetch --offline` works."""
    from zoo import bundle as bundles

    installed = bundles.install(path, manifests)
    if as_json:
        _json([{"model": i.model, "artifact": i.artifact, "path": str(i.path), "sha256": i.sha256} for i in installed])
    else:
        for i in installed:
            _out(f"{i.model}/{i.artifact}: {i.path}")


ModelArg = Annotated[str, typer.Argument(help="A model name (its artifact for --target is fetched) or a .tflite file.")]
LikeOpt = Annotated[Optional[str], typer.Option(help="For a file no manifest lists: the model whose preprocessing and classes it uses.")]
RecordOpt = Annotated[bool, typer.Option(help="Append the result to the manifest as a measured figure (never replacing upstream ones).")]


def _command_line() -> str:
    return " ".join(["zoo", *sys.argv[1:]])


def _append_to_manifest(opened, key: str, entry: dict) -> None:
    from zoo.build.record import update_manifest

    if opened.manifest is None or opened.artifact is None:
        raise ZooError(f"{opened.path} is not an artifact of a manifest, so there is nowhere to record to")
    path = catalog.load().entry(opened.manifest.name).path
    update_manifest(path, append={key: [entry]})
    _err(f"recorded in {path}")


@app.command("bench")
def bench_(
    model: ModelArg,
    target: TargetOpt = "auto",
    threads: Annotated[Optional[int], typer.Option(help="CPU threads for LiteRT (default: LiteRT's choice).")] = None,
    runs: Annotated[int, typer.Option(help="Timed runs after warm-up.")] = 50,
    warmup: Annotated[int, typer.Option(help="Untimed runs after the first one.")] = 5,
    like: LikeOpt = None,
    record: RecordOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Measure init, first-run and steady-state latency (mean, median, p90, min, std) and peak memory.

    The model is loaded with its target's delegate (libedgetpu, VX, Ethos-U) and never silently swapped
    for another file. On the i.MX 8M Plus the first run compiles the graph for the NPU; set
    VIV_VX_ENABLE_CACHE_GRAPH_BINARY=1 and VIV_VX_CACHE_BINARY_GRAPH_DIR=DIR to cache it across runs.
    """
    import datetime as dt

    from zoo import bench as measure_bench
    from zoo.progress import StderrProgress
    from zoo.runtime import open_any

    kwargs = {"num_threads": threads} if threads else {}
    progress = StderrProgress(bar=sys.stderr.isatty())
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
    data: Annotated[Path, typer.Option("--data", help="PASCAL VOC 2012 folder (JPEGImages/, SegmentationClass/, ImageSets/), or images/ + masks/.")],
    split: Annotated[str, typer.Option(help="ImageSets/Segmentation/<split>.txt for VOC layouts.")] = "val",
    limit: Annotated[Optional[int], typer.Option(help="Only the first N images.")] = None,
    target: TargetOpt = "auto",
    dataset: Annotated[Optional[str], typer.Option(help="Dataset name for --record (default: PASCAL VOC 2012 for VOC layouts).")] = None,
    like: LikeOpt = None,
    record: RecordOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """mIoU, pixel accuracy and per-class IoU on a dataset, compared with the manifest's figure for the artifact."""
    import datetime as dt

    from zoo import evaluate as ev
    from zoo.progress import StderrProgress
    from zoo.runtime import open_any
    from zoo.segment import Segmenter

    progress = StderrProgress(bar=sys.stderr.isatty())
    opened = open_any(model, target, like, fallback=False, progress=progress)
    layout, result = ev.evaluate(Segmenter(opened), data, split, limit, progress)
    upstream = [x for x in opened.manifest.metrics if x.name == "mIoU" and opened.artifact and x.applies_to == opened.artifact.id]
    out = {"model": opened.manifest.name, "artifact": opened.artifact.id if opened.artifact else None, "layout": layout,
           "split": split, **result.to_dict(),
           "manifest_mIoU": [{"value": x.value, "source": x.source, "dataset": x.dataset, "split": x.split,
                              "difference": round(result.miou * 100 - x.value, 2)} for x in upstream]}
    if record:
        name = dataset or ("PASCAL VOC 2012" if layout == "voc" else data.name)
        _append_to_manifest(opened, "metrics", ev.metric_entry(result, opened.artifact.id, name, split, _command_line(),
                                                                 dt.date.today().isoformat()))
    if as_json:
        _json(out)
    else:
        _out(present.eval_text(out))


@app.command()
def predict(
    model: ModelArg,
    image: Annotated[Path, typer.Argument(help="The image to segment.")],
    out: Annotated[Optional[Path], typer.Option(help="The colour mask to write (default: IMAGE_mask.png; the overlay goes beside it).")] = None,
    target: TargetOpt = "auto",
    like: LikeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Segment one image: write the PASCAL-coloured mask and an overlay, print the classes found with their share."""
    import numpy as np
    from PIL import Image

    from zoo.progress import StderrProgress
    from zoo.runtime import open_any
    from zoo.segment import Segmenter, pascal_palette

    opened = open_any(model, target, like, progress=StderrProgress(bar=sys.stderr.isatty()))
    segmenter = Segmenter(opened)
    with Image.open(image) as picture:
        rgb = picture.convert("RGB")
    ids = segmenter(rgb)
    mask_path = out or image.with_name(f"{image.stem}_mask.png")
    overlay_path = mask_path.with_name(mask_path.stem.removesuffix("_mask") + "_overlay.png")
    colours = Image.fromarray(pascal_palette()[ids])
    colours.save(mask_path)
    Image.blend(rgb, colours, 0.5).save(overlay_path)
    labels = segmenter.manifest.classes.labels
    values, counts = np.unique(ids, return_counts=True)
    found = sorted(((labels[v] if v < len(labels) else str(v), c / ids.size) for v, c in zip(values, counts)), key=lambda x: -x[1])
    if as_json:
        _json({"mask": str(mask_path), "overlay": str(overlay_path), "target": opened.target,
               "classes": [{"label": label, "share": share} for label, share in found]})
    else:
        for label, share in found:
            _out(f"{label:<14} {share:7.2%}")
        _err(f"wrote {mask_path} and {overlay_path}")


cache_app = typer.Typer(help="Inspect and maintain the local artifact cache.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


def _cache():
    from zoo.cache import Cache

    return Cache(settings.cache_dir())


@cache_app.command("path")
def cache_path() -> None:
    """Print the cache directory (ZOO_CACHE_DIR or the user cache dir)."""
    _out(str(settings.cache_dir()))


@cache_app.command("list")
def cache_list(as_json: JsonOpt = False) -> None:
    """List cached artifacts: model, artifact, size, last used."""
    entries = _cache().entries()
    if as_json:
        _json([{"model": e.model, "artifact": e.artifact, "file": e.file, "path": str(e.path), "sha256": e.sha256,
                "size": e.size, "last_used": e.last_used} for e in entries])
    else:
        _out(present.cache_table(entries))


@cache_app.command("verify")
def cache_verify(
    remove: Annotated[bool, typer.Option("--remove", help="Delete entries that fail.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Re-hash every cached file; report (or --remove) the ones that changed. Exit 1 if any did."""
    checked, problems = _cache().verify(remove=remove)
    if as_json:
        _json({"checked": checked, "problems": [{"path": str(p.path), "message": p.message} for p in problems], "removed": remove})
    else:
        for p in problems:
            _out(f"{p.path}: {p.message}{' (removed)' if remove else ''}")
        _err(f"{checked} file(s) checked, {len(problems)} problem(s)")
    if problems and not remove:
        raise typer.Exit(1)


@cache_app.command("prune")
def cache_prune(as_json: JsonOpt = False) -> None:
    """Remove cached files that no manifest in the catalog references, and stale partial downloads."""
    cache = _cache()
    cat = _load_catalog()
    keep = {a.sha256 for e in cat.entries.values() for a in (*e.manifest.artifacts, *e.manifest.upstream) if a.sha256}
    keep |= {sha for e in cat.entries.values() for a in (*e.manifest.artifacts, *e.manifest.upstream)
             if a.md5 and (sha := cache.sha256_for_md5(a.md5))}
    removed = cache.prune(keep)
    if as_json:
        _json({"removed": [str(p) for p in removed]})
    else:
        for p in removed:
            _out(f"removed {p}")
        _err(f"{len(removed)} file(s) removed")


@cache_app.command("clear")
def cache_clear(yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False) -> None:
    """Delete the whole cache."""
    cache = _cache()
    if not yes and not typer.confirm(f"delete {cache.root}?"):
        raise typer.Exit(1)
    cache.clear()
    _err(f"removed {cache.root}")


def main() -> None:
    """Console entry point: map known errors to one line on stderr and exit 1."""
    try:
        app()
    except ZooError as e:
        if settings.debug():
            raise
        for line in str(e).splitlines():
            _err(f"error: {line}")
        sys.exit(1)
    except KeyboardInterrupt:
        _err("interrupted")
        sys.exit(130)
