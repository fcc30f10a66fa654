"""A LiteRT interpreter for a resolved artifact, with its target's delegate (falling back along the chain)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from zoo.errors import RuntimeMissing, ZooError
from zoo.litert import allocated, installed_delegate, interpreter_module
from zoo.resolver import resolve
from zoo.manifest import Artifact, Manifest
from zoo.progress import Progress
from zoo.targets import get_target


@dataclass
class Opened:
    """An interpreter ready to allocate, with what it was made from (manifest and artifact when known)."""

    interpreter: object
    path: Path
    target: str
    delegate: str | None
    manifest: Manifest | None
    artifact: Artifact | None


def open_model(name: str, target: str = "auto", *, fallback: bool = True, progress: Progress | None = None,
               cache_dir: str | os.PathLike | None = None, **interpreter_kwargs) -> Opened:
    """Resolve `name` and build an Interpreter with the chosen target's delegate loaded.

    If the delegate cannot be loaded, the next target along the fallback chain is used with a warning
    (unless `fallback=False`); when none is left, RuntimeMissing says what to install.
    """
    interpreter_module()  # before any download: say at once when there is nothing to run the model with
    progress = progress or Progress()
    resolved = resolve(name, target, progress=progress, cache_dir=cache_dir)
    while True:
        t = get_target(resolved.target)
        try:
            interpreter = allocated(resolved.path, installed_delegate(t.name, resolved.delegate), **interpreter_kwargs)
        except (ValueError, OSError, RuntimeError) as e:
            if not fallback or len(t.chain()) == 1:
                raise RuntimeMissing(f"cannot load the {t.name} delegate {resolved.delegate} for {resolved.artifact.file}: {e}",
                                     t.install) from None
            progress.message(f"cannot load the {t.name} delegate {resolved.delegate} ({e}); falling back to {t.chain()[1]} "
                             f"(fix: {t.install})")
            resolved = resolve(name, t.chain()[1], progress=progress, cache_dir=cache_dir)
            continue
        return Opened(interpreter, resolved.path, resolved.target, resolved.delegate, resolved.manifest, resolved.artifact)


def open_file(path: Path, like: str | None = None, **interpreter_kwargs) -> Opened:
    """An Interpreter for a .tflite file; its manifest is found by sha256 in the catalog, or given by `like`."""
    from zoo import catalog
    from zoo.tflite import inspect
    from zoo.hashes import file_digest

    sha256 = file_digest(path).sha256
    cat = catalog.load()
    manifest = artifact = None
    found = cat.with_pin(sha256)
    if found is not None:
        manifest = cat.entry(found.name).manifest
        artifact = next((a for a in manifest.artifacts if a.sha256 == sha256), None)
    if like is not None:
        manifest = cat.get(like)
        artifact = artifact if artifact in manifest.artifacts else next((a for a in manifest.artifacts if a.file == path.name), None)
    target = inspect(path).accelerator or (artifact.target if artifact else "cpu")
    delegate = installed_delegate(target, artifact.delegate if artifact else get_target(target).delegate)
    try:
        interpreter = allocated(path, delegate, **interpreter_kwargs)
    except (ValueError, OSError, RuntimeError) as e:
        raise RuntimeMissing(f"{path.name} is compiled for {get_target(target).title} and needs {delegate}, "
                             f"which cannot be loaded here ({e})", get_target(target).install) from None
    return Opened(interpreter, path, target, delegate, manifest, artifact)


def open_any(name_or_file: str, target: str = "auto", like: str | None = None, fallback: bool = True,
             progress: Progress | None = None, **interpreter_kwargs) -> Opened:
    """A model name (resolved for `target`) or a path to a .tflite file."""
    path = Path(name_or_file)
    if path.suffix == ".tflite" or path.is_file():
        if not path.is_file():
            raise ZooError(f"{path} does not exist")
        return open_file(path, like, **interpreter_kwargs)
    return open_model(name_or_file, target, fallback=fallback, progress=progress, **interpreter_kwargs)
