"""Fetching and the cache: fetch, cache path|list|verify|prune|clear."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from zoo import catalog, present, settings
from zoo.errors import ZooError
from zoo.cli._app import (
    JsonOpt,
    QuietOpt,
    TargetOpt,
    _err,
    _json,
    _out,
    _output,
    _progress,
    _Typer,
    app,
)


@app.command()
def fetch(
    name: Annotated[str, typer.Argument(metavar="NAME[/ARTIFACT]", help="Model name or alias (see `zoo list`); "
                                        "NAME/ARTIFACT takes one artifact by id (see `zoo info NAME`).")],
    target: TargetOpt = "auto",
    output: Annotated[Optional[str], typer.Option("--output", "-o", metavar="PATH",
                                                  help="Also copy the file here (a file path, or a folder: DIR/ is created).")] = None,
    offline: Annotated[bool, typer.Option(help="Never touch the network (also ZOO_OFFLINE=1).")] = False,
    strict: Annotated[bool, typer.Option(help="Fail instead of falling back when the target's artifact is unpublished.")] = False,
    explain: Annotated[bool, typer.Option(help="Say why this artifact was chosen (on stderr).")] = False,
    build: Annotated[bool, typer.Option("--build", help="If the target's artifact is pinned but not hosted, compile it here "
                                        "from its published parent and keep it only if it matches the pin (i.MX 93 needs the imx93 extra).")] = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Fetch a model's artifact for this machine (or --target), verified and cached; print its path (or, with -o,
    the copy's) last."""
    from zoo.resolver import export, resolve

    progress = _progress(quiet)
    resolved = resolve(name, target, offline=offline or None, strict=strict, explain=explain and not quiet, progress=progress,
                       build=build)
    copied = export(resolved, _output(output, resolved.artifact.file)) if output else None
    if as_json:
        _json({**resolved.to_dict(), "output": str(copied) if copied else None})
    elif copied:
        if not quiet:
            _err(f"copied from the cache at {resolved.path}")
        _out(str(copied))
    else:
        _out(str(resolved.path))


cache_app = _Typer(help="Inspect and maintain the local artifact cache.", no_args_is_help=True)
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
    """List cached files: model, id, what it is (an artifact, or an upstream input a build reads: a calibration
    image, a float model, an archive), size, last used."""
    entries = _cache().entries()
    cat = catalog.load()
    kinds = [cat.kind_of(e.model, e.artifact) for e in entries]
    if as_json:
        _json([{"model": e.model, "artifact": e.artifact, "kind": kind, "file": e.file, "path": str(e.path),
                "sha256": e.sha256, "size": e.size, "last_used": e.last_used} for e, kind in zip(entries, kinds)])
    else:
        _out(present.cache_table(entries, kinds))


@cache_app.command("verify")
def cache_verify(
    remove: Annotated[bool, typer.Option("--remove", help="Delete entries that fail.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Re-hash every cached file; report (or --remove) the ones that changed. Exit 1 if any did, removed or not."""
    checked, problems = _cache().verify(remove=remove)
    if as_json:
        _json({"checked": checked, "problems": [{"path": str(p.path), "message": p.message} for p in problems], "removed": remove})
    else:
        for p in problems:
            _out(f"{p.path}: {p.message}{' (removed)' if remove else ''}")
        _err(f"{checked} file(s) checked, {len(problems)} problem(s)")
    if problems:
        raise typer.Exit(1)


DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Only list what would be removed.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (for scripts).")]


def _removal(paths: list[Path], dry_run: bool, as_json: bool) -> None:
    if as_json:
        _json({"removed": [] if dry_run else [str(p) for p in paths], "would_remove": [str(p) for p in paths] if dry_run else []})
        return
    for p in paths:
        _out(f"{'would remove' if dry_run else 'removed'} {p}")
    _err(f"{len(paths)} path(s) {'would be ' if dry_run else ''}removed" if paths else "nothing to remove")


def _confirm(cache, what: str, yes: bool, dry_run: bool) -> None:
    if yes or dry_run:
        return
    if not sys.stdin.isatty():
        raise typer.BadParameter("pass --yes to confirm (no terminal to ask on), or --dry-run to see what would go")
    if not typer.confirm(f"remove {what} from {cache.root}?"):
        raise typer.Exit(1)


@cache_app.command("prune")
def cache_prune(dry_run: DryRunOpt = False, yes: YesOpt = False, as_json: JsonOpt = False) -> None:
    """Remove cached files no model view links to any more (superseded or orphaned) and stale partial downloads.
    Decided by the cache alone, never by which manifests are loaded right now. Nothing to remove is success."""
    cache = _cache()
    if cache.prune(dry_run=True):
        _confirm(cache, "unlinked files", yes, dry_run)
    _removal(cache.prune(dry_run=dry_run), dry_run, as_json)


@cache_app.command("rm")
def cache_rm(
    what: Annotated[str, typer.Argument(metavar="MODEL[/ARTIFACT]", help="A model, or one artifact of it, as `zoo cache list` shows.")],
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Remove a model's (or one artifact's) cached files; files other models share stay."""
    cache = _cache()
    model, _, artifact = what.partition("/")
    if not cache.remove(model, artifact or None, dry_run=True):
        raise ZooError(f"nothing cached matches {what}", "see what is cached with `zoo cache list`")
    _confirm(cache, what, yes, dry_run)
    _removal(cache.remove(model, artifact or None, dry_run=dry_run), dry_run, as_json)


@cache_app.command("clear")
def cache_clear(dry_run: DryRunOpt = False, yes: YesOpt = False, as_json: JsonOpt = False) -> None:
    """Delete the whole cache (only a folder zoo created: it holds zoo's CACHEDIR.TAG)."""
    cache = _cache()
    _confirm(cache, "everything", yes, dry_run)
    _removal(cache.clear(dry_run=dry_run), dry_run, as_json)
