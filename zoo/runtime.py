"""A LiteRT interpreter for a resolved artifact, with its target's delegate (falling back along the chain)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from zoo.errors import InvalidModel, RuntimeMissing, ZooError
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
            if resolved.delegate is None:
                raise InvalidModel(f"LiteRT cannot load {resolved.artifact.file} ({e})",
                                   "check the manifest's artifact; `zoo cache verify` rehashes the cached file") from None
            if not fallback or len(t.chain()) == 1:
                raise RuntimeMissing(f"cannot load the {t.name} delegate {resolved.delegate} for {resolved.artifact.file}: {e}",
                                     t.install) from None
            progress.message(f"cannot load the {t.name} delegate {resolved.delegate} ({e}); falling back to {t.chain()[1]} "
                             f"(fix: {t.install})")
            resolved = resolve(name, t.chain()[1], progress=progress, cache_dir=cache_dir)
            continue
        return Opened(interpreter, resolved.path, resolved.target, resolved.delegate, resolved.manifest, resolved.artifact)


def open_file(path: Path, like: str | None = None, target: str = "auto", progress: Progress | None = None,
              **interpreter_kwargs) -> Opened:
    """An Interpreter for a .tflite file; its manifest is the one that pins its sha256 (said through `progress`, with
    a warning when several do), or `like`. `target` other than 'auto' loads it with that target's delegate (a file
    compiled for another accelerator is refused); 'auto' takes the accelerator it is compiled for, else the CPU."""
    from zoo import catalog
    from zoo.tflite import inspect
    from zoo.hashes import file_digest

    progress = progress or Progress()
    sha256 = file_digest(path).sha256
    cat = catalog.load()
    manifest = artifact = None
    pinned = sorted(cat.with_pin(sha256), key=lambda e: e.name) if like is None else []
    if like is not None:
        manifest = cat.get(like)
        artifact = next((a for a in manifest.artifacts if a.sha256 == sha256), None) or \
            next((a for a in manifest.artifacts if a.file == path.name), None)
    elif pinned:
        manifest = pinned[0].manifest
        artifact = next(a for a in manifest.artifacts if a.sha256 == sha256)
        if len(pinned) > 1:
            progress.message(f"{path.name} is pinned by {len(pinned)} manifests ({', '.join(e.name for e in pinned)}); "
                             f"using {manifest.name}'s preprocessing and labels (--like NAME chooses another)")
        else:
            progress.note(f"{path.name} is {manifest.name}'s {artifact.id} artifact (matched by sha256)")
    compiled = inspect(path).accelerator
    if target != "auto" and compiled and compiled != target:
        raise ZooError(f"{path.name} is compiled for {get_target(compiled).title}; it cannot run with -t {target}",
                       f"omit -t, or give a model name to fetch its {target} file")
    asked, target = target, compiled or (target if target != "auto" else artifact.target if artifact else "cpu")
    delegate = installed_delegate(target, artifact.delegate if artifact and artifact.target == target
                                  else get_target(target).delegate)
    try:
        interpreter = allocated(path, delegate, **interpreter_kwargs)
    except (ValueError, OSError, RuntimeError) as e:
        if delegate is None:
            raise InvalidModel(f"LiteRT cannot load {path.name} ({e})",
                               "check that it is a complete .tflite model for LiteRT") from None
        why = (f"{path.name} is compiled for {get_target(target).title} and needs" if compiled else
               f"-t {target} needs" if asked != "auto" else f"{path.name} is {manifest.name}'s {target} artifact and needs")
        raise RuntimeMissing(f"{why} {delegate}, which cannot be loaded here ({e})",
                             get_target(target).install) from None
    return Opened(interpreter, path, target, delegate, manifest, artifact)


def open_any(name_or_file: str, target: str = "auto", like: str | None = None, fallback: bool = True,
             progress: Progress | None = None, **interpreter_kwargs) -> Opened:
    """A model name (resolved for `target`) or a path to a .tflite file."""
    path = Path(name_or_file)
    if path.suffix == ".tflite" or path.is_file():
        if not path.is_file():
            raise ZooError(f"{path} does not exist")
        return open_file(path, like, target, progress, **interpreter_kwargs)
    return open_model(name_or_file, target, fallback=fallback, progress=progress, **interpreter_kwargs)
