"""A LiteRT interpreter for a resolved artifact, with its target's delegate (falling back along the chain)."""

from __future__ import annotations

import ctypes
import os
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from zoo.errors import RuntimeMissing, ZooError
from zoo.resolver import resolve
from zoo.manifest import Artifact, Manifest
from zoo.progress import Progress
from zoo.targets import get_target


def interpreter_module() -> ModuleType:
    """ai_edge_litert's interpreter, else tflite_runtime's."""
    try:
        from ai_edge_litert import interpreter
    except ImportError:
        try:
            from tflite_runtime import interpreter
        except ImportError:
            raise RuntimeMissing("no LiteRT interpreter is installed",
                                 "pip install 'edge-model-zoo[run]' (ai-edge-litert), or tflite-runtime on older boards") from None
    return interpreter


@dataclass
class Opened:
    """An interpreter ready to allocate, with what it was made from (manifest and artifact when known)."""

    interpreter: object
    path: Path
    target: str
    delegate: str | None
    manifest: Manifest | None
    artifact: Artifact | None


def installed_delegate(target: str, declared: str | None) -> str | None:
    """The delegate to load: the declared one if it exists, else the first other name of the target's delegate that
    does (the i.MX 93's is libethosu_delegate.so on older BSPs, liblitert_ethosu_delegate.so on newer ones)."""
    if declared is None or Path(declared).exists():
        return declared
    return next((d for d in get_target(target).delegates() if Path(d).exists()), declared)


_ANNOUNCEMENTS = {b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU."}


@contextmanager
def _without_announcements():
    """LiteRT's C++ logger announces its default CPU delegate on stderr at every load; that line is kept out of
    the user's way, anything else it prints is passed through."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            for line in capture.read().splitlines(keepends=True):
                if line.rstrip() not in _ANNOUNCEMENTS:
                    os.write(2, line)


def allocated(path: Path, delegate: str | None = None, **kwargs):
    """An allocated LiteRT interpreter for `path`, with `delegate` loaded (ValueError/OSError if it cannot be)."""
    lite = interpreter_module()
    if delegate:
        # Open the library first: a failed lite.load_delegate leaves a half-built Delegate that errors in __del__.
        ctypes.CDLL(delegate)
    delegates = [lite.load_delegate(delegate)] if delegate else None
    with _without_announcements():
        it = lite.Interpreter(model_path=str(path), experimental_delegates=delegates, **kwargs)
        it.allocate_tensors()
    return it


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


def load(name: str, target: str = "auto", *, progress: Progress | None = None,
         cache_dir: str | os.PathLike | None = None, **interpreter_kwargs):
    """A LiteRT Interpreter for `name` with its target's delegate (see open_model)."""
    return open_model(name, target, progress=progress, cache_dir=cache_dir, **interpreter_kwargs).interpreter


def open_file(path: Path, like: str | None = None, **interpreter_kwargs) -> Opened:
    """An Interpreter for a .tflite file; its manifest is found by sha256 in the catalog, or given by `like`."""
    from zoo import catalog
    from zoo.tflite import inspect
    from zoo.hashes import file_digest

    sha256 = file_digest(path).sha256
    cat = catalog.load()
    manifest = artifact = None
    for name in cat.names():
        m = cat.get(name)
        artifact = next((a for a in m.artifacts if a.sha256 == sha256), None)
        if artifact is not None:
            manifest = m
            break
    if like is not None:
        manifest = cat.get(like)
        artifact = artifact if artifact in manifest.artifacts else next((a for a in manifest.artifacts if a.file == path.name), None)
    accelerator = inspect(path).accelerator
    target = {"edgetpu": "edgetpu", None: "cpu"}.get(accelerator, artifact.target if artifact else "cpu")
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
