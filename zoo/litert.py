"""Loading LiteRT interpreters and delegates: the one place zoo touches the runtime's loading API."""

from __future__ import annotations

import ctypes
import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from zoo.errors import install_extra, RuntimeMissing
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
                                 f"{install_extra('run')}: ai-edge-litert; or tflite-runtime on older boards") from None
    return interpreter


def installed_delegate(target: str, declared: str | None) -> str | None:
    """The delegate to load: the declared one if it exists, else the first other name of the target's delegate that
    does (the i.MX 93's is libethosu_delegate.so on older BSPs, liblitert_ethosu_delegate.so on newer ones)."""
    if declared is None or Path(declared).exists():
        return declared
    return next((d for d in get_target(target).delegates() if Path(d).exists()), declared)


_ANNOUNCEMENTS = {b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU."}


@contextmanager
def without_announcements():
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
    with without_announcements():
        it = lite.Interpreter(model_path=str(path), experimental_delegates=delegates, **kwargs)
        it.allocate_tensors()
    return it
