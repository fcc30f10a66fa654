"""Replacing a small file whole: written beside it under a temporary name, then renamed over it, so a reader or a
crash never sees it half-written."""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def write(path: Path, data: bytes | str) -> None:
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
