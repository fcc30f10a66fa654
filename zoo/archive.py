"""Safe extraction of upstream archives: nothing lands outside the target folder."""

from __future__ import annotations

import importlib.util
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from zoo.errors import UnsafeArchive

ZIP_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate",
               **({zipfile.ZIP_BZIP2: "bzip2"} if importlib.util.find_spec("bz2") else {}),
               **({zipfile.ZIP_LZMA: "lzma"} if importlib.util.find_spec("lzma") else {})}
"""The compression methods this Python's zipfile can read (bz2 and lzma are optional in a Python build)."""
ZIP_DAMAGE = (zipfile.BadZipFile, zlib.error, EOFError)
"""What zipfile raises while reading a member whose bytes are not what its headers say."""


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


def check_zip_member(info: zipfile.ZipInfo, archive: str) -> None:
    """UnsafeArchive for a member zipfile would refuse only once opened (a traceback there): encrypted, or compressed
    by a method this Python cannot read."""
    if info.flag_bits & 0x1:
        raise UnsafeArchive(f"{archive}: member {info.filename!r} is encrypted; zoo reads only unencrypted members")
    if info.compress_type not in ZIP_METHODS:
        raise UnsafeArchive(f"{archive}: member {info.filename!r} uses compression method {info.compress_type}, which "
                            f"zoo cannot read (it reads {', '.join(ZIP_METHODS.values())})")


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
