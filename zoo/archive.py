"""Safe extraction of upstream archives: nothing lands outside the target folder."""

from __future__ import annotations

import tarfile
import zlib
from pathlib import Path, PurePosixPath

from zoo.errors import UnsafeArchive



def check_member(member: tarfile.TarInfo, archive: Path) -> None:
    name = PurePosixPath(member.name)
    if name.is_absolute() or ".." in name.parts:
        raise UnsafeArchive(f"{archive}: member {member.name!r} has an absolute path or '..'; refusing to extract")
    if member.issym() or member.islnk():
        target = PurePosixPath(member.linkname)
        base = name.parent if member.issym() else PurePosixPath()
        if target.is_absolute() or ".." in (base / target).parts:
            raise UnsafeArchive(f"{archive}: link {member.name!r} -> {member.linkname!r} points outside; refusing to extract")
    elif not (member.isfile() or member.isdir()):
        raise UnsafeArchive(f"{archive}: member {member.name!r} is a device or fifo; refusing to extract")


def extract(archive: Path, dest: Path) -> Path:
    """Extract a tar(.gz) into `dest` after checking every member; returns `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        return _extract(archive, dest)
    except (tarfile.TarError, EOFError, zlib.error) as e:
        raise UnsafeArchive(f"{archive} is not a readable tar archive ({type(e).__name__}: {e})") from None


def _extract(archive: Path, dest: Path) -> Path:
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        for m in members:
            check_member(m, archive)
        for m in members:
            if m.isdir():
                (dest / m.name).mkdir(parents=True, exist_ok=True)
                continue
            if m.issym() or m.islnk():
                continue  # models never need links; checked above, skipped here
            out = dest / m.name
            out.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(m) as src, open(out, "wb") as f:
                while chunk := src.read(1 << 20):
                    f.write(chunk)
    return dest
