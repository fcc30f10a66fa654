"""Catalog commands: list, info, validate, targets, detect."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from zoo import catalog, manifest, present
from zoo.cli._app import JsonOpt, NameArg, _err, _json, _load_catalog, _out, app
from zoo.errors import ManifestInvalid


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
    root: Annotated[Path, typer.Option(metavar="DIR", help="Read /sys, /dev, /proc and /usr under this directory instead of /.")] = Path("/"),
) -> None:
    """Detect accelerators and runtimes from files (no model is run); list usable targets, best first."""
    from zoo.devices import detect as run_detect

    found = run_detect(root)
    if as_json:
        _json(found.to_dict())
    else:
        _out(present.detection_text(found))
