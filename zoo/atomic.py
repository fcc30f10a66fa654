"""Replacing a file whole: written beside it under a fresh temporary name (created exclusively, never through a
link), then renamed over it, so a reader or a crash never sees it half-written and nothing is left behind."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A fresh temporary path beside `path` to write; renamed over `path` when the block ends without an error,
    removed otherwise."""
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def exclusive(path: Path):
    """A new file at `path`, opened for writing: created here, never an existing file, never through a link."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644), "wb")


def write(path: Path, data: bytes | str) -> None:
    with replacing(path) as tmp, exclusive(tmp) as f:
        f.write(data.encode() if isinstance(data, str) else data)


def create(path: Path, data: bytes, replace: bool = False) -> None:
    """`data` as a new file at `path` (FileExistsError when anything is there, a link included); with `replace`, put
    in place of whatever is there in one rename (a link is replaced, never written through)."""
    if replace:
        return write(path, data)
    f = exclusive(path)
    try:
        with f:
            f.write(data)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def copy(source: Path, path: Path) -> Path:
    """A copy of `source` at `path`, replacing whatever was there in one rename."""
    with replacing(path) as tmp:
        shutil.copyfile(source, tmp)
    return path
