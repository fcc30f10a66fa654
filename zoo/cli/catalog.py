"""Catalog commands: list, info, validate, targets, detect, init."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from zoo import atomic, catalog, manifest, present
from zoo.cli._app import JsonOpt, NameArg, QuietOpt, _err, _json, _load_catalog, _out, _output, app, given_path
from zoo.errors import ManifestInvalid
from zoo.manifest_init import INIT_TASKS


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """List the models in the catalog: task, input, classes, headline metric and targets."""
    rows = _load_catalog().summaries()
    if as_json:
        _json(rows)
    else:
        _out(present.list_table(rows))


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
    paths: Annotated[Optional[list[Path]], typer.Argument(metavar="PATH", help="Manifest files or folders (default: the whole catalog).")] = None,
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
        cat = catalog.load(fresh=True)
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
    root: Annotated[Path, typer.Option(metavar="DIR", help="Read /sys, /dev, /proc and /usr under this directory instead of /.")] = Path("/"),
) -> None:
    """Detect accelerators and runtimes from files (no model is run); list usable targets, best first."""
    from zoo.devices import detect as run_detect

    found = run_detect(root)
    if as_json:
        _json(found.to_dict())
    else:
        _out(present.detection_text(found))


@app.command()
def init(
    file: Annotated[Path, typer.Argument(metavar="FILE.tflite", help="Your model file.")],
    name: Annotated[str, typer.Option("--name", metavar="NAME", help="The model's name (lowercase letters, digits, '.', '-').")],
    task: Annotated[str, typer.Option("--task", metavar="TASK", help=f"What it does: {', '.join(INIT_TASKS)}.")],
    labels: Annotated[Optional[Path], typer.Option("--labels", metavar="FILE", help="Class names, one a line, in class-id order.")] = None,
    source: Annotated[Optional[list[str]], typer.Option("--source", metavar="URL", help="Where the file is served (repeatable; "
                                                         "https://, hf://OWNER/REPO@REV/PATH or oci://REGISTRY/REPO).")] = None,
    license: Annotated[str, typer.Option("--license", metavar="SPDX", help="The model's license.")] = "unknown",
    input_range: Annotated[str, typer.Option("--input-range", metavar="-1,1|0,1|0,255",
                                             help="For a float input: the range the model was trained on.")] = "-1,1",
    output: Annotated[Optional[str], typer.Option("--output", "-o", metavar="PATH", callback=given_path, help="Write the manifest here (a file, or a "
                                                  "folder for NAME.yaml) instead of stdout.")] = None,
    quiet: QuietOpt = False,
) -> None:
    """Write a manifest for your own .tflite file, read from the file: input and outputs, quantization, preprocessing,
    size, sha256, the target its operators say, the labels. Point ZOO_MANIFESTS at it to fetch and predict."""
    from zoo.errors import ZooError
    from zoo.manifest_init import describe, read_labels, to_yaml

    if not file.is_file():
        raise ZooError(f"{file}: no such file" if not file.exists() else f"{file} is not a file", "give the path of a .tflite file")
    data = describe(file, name, task, read_labels(labels) if labels else None, source or [], license, input_range)
    text = to_yaml(data)
    if output:
        path = _output(output, f"{name}.yaml")
        atomic.write(path, text)  # replaces a link itself, never writes through it
        if not quiet:
            _err(f"wrote {path}")
    else:
        sys.stdout.write(text)
