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
