"""Fetching and the cache: fetch, cache path|list|verify|prune|clear."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from zoo import present, settings
from zoo.cli._app import (
    JsonOpt,
    NameArg,
    TargetOpt,
    _err,
    _json,
    _load_catalog,
    _out,
    _progress,
    app,
)


@app.command()
def fetch(
    name: NameArg,
    target: TargetOpt = "auto",
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Also copy the file here (a path or a folder).")] = None,
    offline: Annotated[bool, typer.Option(help="Never touch the network (also ZOO_OFFLINE=1).")] = False,
    strict: Annotated[bool, typer.Option(help="Fail instead of falling back when the target's artifact is unpublished.")] = False,
    explain: Annotated[bool, typer.Option(help="Say why this artifact was chosen (on stderr).")] = False,
    build: Annotated[bool, typer.Option("--build", help="If the target's artifact is pinned but not hosted, compile it here "
                                        "from its published parent and keep it only if it matches the pin (i.MX 93: needs zoo[imx93]).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or notes; errors still go to stderr.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Fetch a model's artifact for this machine (or --target), verified and cached; print its path last."""
    from zoo.fetch import export, resolve

    progress = _progress(quiet)
    resolved = resolve(name, target, offline=offline or None, strict=strict, explain=explain and not quiet, progress=progress,
                       build=build)
    copied = export(resolved, output) if output else None
    if as_json:
        _json({**resolved.to_dict(), "output": str(copied) if copied else None})
    else:
        if copied:
            _err(f"copied to {copied}")
        _out(str(resolved.path))


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
