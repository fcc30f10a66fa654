"""A LiteRT interpreter for a resolved artifact, with its target's delegate (falling back along the chain)."""

from __future__ import annotations

import os
from types import ModuleType

from zoo.errors import RuntimeMissing
from zoo.fetch import resolve
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
                                 "pip install 'zoo[run]' (ai-edge-litert), or tflite-runtime on older boards") from None
    return interpreter


def load(name: str, target: str = "auto", *, progress: Progress | None = None,
         cache_dir: str | os.PathLike | None = None, **interpreter_kwargs):
    """Resolve `name`, then build an Interpreter with the chosen target's delegate loaded.

    If the delegate library cannot be loaded, the next target along the fallback chain is used with a
    warning; if none is left, RuntimeMissing says what to install.
    """
    lite = interpreter_module()
    progress = progress or Progress()
    resolved = resolve(name, target, progress=progress, cache_dir=cache_dir)
    while True:
        if resolved.delegate is None:
            return lite.Interpreter(model_path=str(resolved.path), **interpreter_kwargs)
        try:
            delegate = lite.load_delegate(resolved.delegate)
        except (ValueError, OSError) as e:
            chain = get_target(resolved.target).chain()
            if len(chain) == 1:
                raise RuntimeMissing(f"cannot load {resolved.delegate}: {e}", get_target(resolved.target).install) from None
            progress.message(f"cannot load the {resolved.target} delegate {resolved.delegate} ({e}); "
                             f"falling back to {chain[1]} (fix: {get_target(resolved.target).install})")
            resolved = resolve(name, chain[1], progress=progress, cache_dir=cache_dir)
            continue
        return lite.Interpreter(model_path=str(resolved.path), experimental_delegates=[delegate], **interpreter_kwargs)
