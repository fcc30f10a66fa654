"""Where verified files live: content-addressed blobs, readable per-model links, locks, atomic install.

Layout under the cache root:
    blobs/sha256/<hash>              the verified bytes, stored once
    blobs/sha256/<hash>.stat         record "size mtime_ns inode" for re-hash-free hits; its mtime = last use
    models/<model>/<artifact>/<file> a hard link (or symlink) to the blob
    pins/md5/<md5>                   sha256 observed at the first download of an md5-only file
    tmp/                             downloads in progress (<pin>.part and the <pin>.origin record of its source)
    locks/                           inter-process locks (saves duplicate work; rename is the guarantee)
    index/hits.json                  remembered resolutions (zoo/hit.py)

    CACHEDIR.TAG                     marks the folder as a cache zoo made (the Cache Directory Tagging standard,
                                     which backup tools honour); clear, prune and rm act only on marked folders

Nothing reaches a final path before it is verified: files are written under tmp/ and renamed.
A blob is only ever a regular file (never a directory or a symlink); a read-only cache still serves hits.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from zoo import atomic
from zoo.errors import CacheError
from zoo.hashes import Digest, blob_key, file_digest

TAG = "CACHEDIR.TAG"
LAYOUT = {"blobs", "models", "pins", "tmp", "locks", "index", TAG}
_HEX64 = re.compile(r"[0-9a-f]{64}")
TAG_TEXT = ("Signature: 8a477f597d28d172789f06886806bc55\n"
            "# This file is a cache directory tag created by zoo (model artifacts); see https://bford.info/cachedir/\n")


@dataclass(frozen=True)
class Entry:
    model: str
    artifact: str
    file: str
    path: Path
    sha256: str
    size: int
    last_used: float


@dataclass(frozen=True)
class Problem:
    path: Path
    message: str


class Cache:
    def __init__(self, root: Path):
        self.root = Path(root)
        self._discarded: set[str] = set()

    def discarded(self, sha256: str | None) -> bool:
        """True if this object removed the blob `sha256` because its bytes no longer matched."""
        return sha256 in self._discarded

    def blob(self, sha256: str) -> Path:
        return self.root / "blobs" / "sha256" / sha256

    def view(self, model: str, artifact: str, file: str) -> Path:
        return self.root / "models" / model / artifact / file

    def _record(self, sha256: str) -> Path:
        return self.blob(sha256).with_suffix(".stat")

    def sha256_for_md5(self, md5: str) -> str | None:
        """The sha256 recorded at the first download of a file pinned only by md5."""
        try:
            return (self.root / "pins" / "md5" / md5).read_text().strip() or None
        except OSError:
            return None

    def record_path(self, sha256: str) -> str:
        """The stat record of blob `sha256`, as a plain string (the hot path of every hit)."""
        return os.path.join(os.fspath(self.root), "blobs", "sha256", sha256 + ".stat")

    def unchanged(self, view: str, sha256: str) -> bool:
        """True if `view` is still exactly the file verified as `sha256` (its size, mtime and inode match the record
        written when it was): a hit without re-hashing. Plain strings: this is the hot path of every hit."""
        record_path = self.record_path(sha256)
        record = read_record(record_path)
        if record is None or blob_key(view) != record:
            return False
        _touch(record_path)
        return True

    def lookup(self, model: str, artifact: str, file: str, sha256: str) -> Path | None:
        """A verified readable path for this blob, or None. No network; re-hashes only if the file changed."""
        view = os.path.join(os.fspath(self.root), "models", model, artifact, file)
        if self.unchanged(view, sha256):
            return Path(view)
        record = read_record(os.fspath(self._record(sha256)))
        blob = self.blob(sha256)
        if not _regular(blob):
            return None
        if record is None or blob_key(blob) != record:
            if file_digest(blob).sha256 != sha256:
                self._remove_blob(sha256)
                self._discarded.add(sha256)
                return None
            try:
                self._write_record(sha256)
            except OSError:
                pass  # a read-only cache: the next hit re-hashes, nothing is wrong
        try:
            return self._link(blob, Path(view))
        except OSError:
            return blob

    def _folder(self, name: str) -> Path:
        """A folder of the cache, created if needed (marking a new cache as zoo's); CacheError says why it cannot be."""
        folder = self.root / name
        try:
            if not self.marked():
                if not self._adoptable():
                    raise CacheError(f"{self.root} holds files zoo did not put there, so zoo will not use it as its cache",
                                     "point ZOO_CACHE_DIR at an empty or new folder")
                self.root.mkdir(parents=True, exist_ok=True)
                atomic.write(self.root / TAG, TAG_TEXT)
            folder.mkdir(parents=True, exist_ok=True)
        except CacheError:
            raise
        except OSError as e:
            raise _unwritable(self.root, e) from None
        return folder

    def marked(self) -> bool:
        """True if zoo made this folder (its CACHEDIR.TAG names zoo)."""
        try:
            text = (self.root / TAG).read_text(errors="replace")
        except OSError:
            return False
        return text.startswith(TAG_TEXT.splitlines()[0]) and "zoo" in text

    def _adoptable(self) -> bool:
        """Absent, empty, or a cache zoo made before it marked its caches: nothing but zoo's layout, with verified
        blobs by sha256 (each with its stat record), and every model view and temp file of zoo's making. Top-level
        names alone prove nothing: a folder of someone's own with models/ and tmp/ is not adopted."""
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return True
        except OSError:
            return False
        names = [n for n in names if not n.startswith(".clearing-")]
        if not names:
            return True
        if not set(names) <= LAYOUT or not (self.root / "blobs").is_dir():
            return False
        blobs = self._blobs()
        if not blobs or os.listdir(self.root / "blobs") != ["sha256"]:
            return False
        if not all(_HEX64.fullmatch(b.name) and _regular(b) and _regular(self._record(b.name)) for b in blobs):
            return False
        if None in self._links().values():
            return False
        tmp = self.root / "tmp"
        return not tmp.is_dir() or all(p.suffix in (".part", ".origin") or p.name.startswith("compile-") for p in tmp.iterdir())

    def _owned(self) -> bool:
        """Whether destructive commands may act: an absent or empty folder has nothing to lose; else it must be zoo's."""
        if not self.root.exists() or (self.root.is_dir() and not any(self.root.iterdir())):
            return False
        if not (self.marked() or self._adoptable()):
            raise CacheError(f"{self.root} has no CACHEDIR.TAG written by zoo and is not laid out like one, so it is not a zoo "
                             "cache; nothing was removed", "check ZOO_CACHE_DIR; zoo only deletes inside folders it created")
        return True

    def folder(self, name: str) -> Path:
        """A top-level folder of the cache (e.g. index/), created if needed and marking a new cache as zoo's."""
        return self._folder(name)

    def temp(self) -> Path:
        """A fresh path under tmp/ on the cache's filesystem, so the final rename is atomic."""
        return self._folder("tmp") / f"{uuid.uuid4().hex}.part"

    def partial(self, key: str) -> Path:
        """Where an interrupted download of the file pinned by `key` is kept (use only while holding its lock)."""
        return self._folder("tmp") / f"{key}.part"

    def lock(self, key: str, timeout: float):
        """An acquired inter-process lock for `key` (release() it), or None if another process held it for
        `timeout` s. The lock only saves duplicate work: the rename is what keeps the cache correct."""
        from filelock import FileLock, Timeout

        path = self._folder("locks") / f"{key}.lock"
        if path.is_symlink() or (path.exists() and not path.is_file()):
            _discard(path)  # a planted link: older filelock versions open the lock file with O_TRUNC through it
        lock = FileLock(str(path))
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            return None
        except OSError as e:
            raise _unwritable(self.root, e) from None
        return lock

    def install(self, tmp: Path, digest: Digest, model: str, artifact: str, file: str) -> Path:
        """Move a verified temp file into blobs/ and link its readable path; returns that path."""
        blob = self.blob(digest.sha256)
        try:
            blob.parent.mkdir(parents=True, exist_ok=True)
            if blob.is_symlink() or blob.is_dir():
                _discard(blob)
            os.chmod(tmp, 0o444)
            os.replace(tmp, blob)
            self._write_record(digest.sha256)
            if digest.md5:
                pins = self.root / "pins" / "md5"
                pins.mkdir(parents=True, exist_ok=True)
                atomic.write(pins / digest.md5, digest.sha256)
            return self._link(blob, self.view(model, artifact, file))
        except FileNotFoundError:
            raise CacheError(f"the cache at {self.root} was cleared while {file} was being installed",
                             "run the command again") from None
        except OSError as e:
            raise _unwritable(self.root, e) from None

    def _write_record(self, sha256: str) -> None:
        atomic.write(self._record(sha256), " ".join(map(str, blob_key(self.blob(sha256)))))

    def _link(self, blob: Path, view: Path) -> Path:
        """A readable link to `blob` at `view`, or the blob itself when the view cannot be made (its path is a folder,
        or leads out of the cache): the bytes are verified either way, and no temporary link is left behind."""
        view.parent.mkdir(parents=True, exist_ok=True)
        if not os.path.realpath(view.parent).startswith(os.path.realpath(self.root) + os.sep):
            return blob
        tmp = view.parent / f".{uuid.uuid4().hex}.link"
        try:
            try:
                os.link(blob, tmp)
            except OSError:
                os.symlink(blob, tmp)
            os.replace(tmp, view)
        except IsADirectoryError:
            return blob
        finally:
            tmp.unlink(missing_ok=True)
        return view

    def _blobs(self) -> list[Path]:
        return [Path(e.path) for e in _entries(self.root / "blobs" / "sha256")
                if not e.name.endswith(".stat") and not e.name.startswith(".")]

    def _views(self) -> list[Path]:
        """Readable model paths (links in the making, named with a leading dot, are not ones)."""
        found = []
        for model in _entries(self.root / "models"):
            for artifact in _entries(model.path):
                found += [v.path for v in _entries(artifact.path) if not v.name.startswith(".")]
        return [Path(v) for v in sorted(found)]  # sorted as text: Path comparisons cost ten times more

    def entries(self) -> list[Entry]:
        """Every readable model path and the blob it points at."""
        out = []
        for view, sha in self._links().items():
            if sha is None:
                continue
            try:
                last = os.stat(self._record(sha)).st_mtime
            except OSError:
                last = 0.0
            out.append(Entry(view.parent.parent.name, view.parent.name, view.name, view, sha, view.stat().st_size, last))
        return out

    def _links(self) -> dict[Path, str | None]:
        """Every view and the sha256 of the regular blob it links to (hard link, or symlink into blobs/), else None:
        one pass over the blobs and one over the views, so every cache command grows linearly."""
        inodes = {}
        for blob in self._blobs():
            try:
                st = os.lstat(blob)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                inodes[st.st_ino] = blob.name
        blobs = Path(os.path.realpath(self.blob("x").parent))
        out = {}
        for view in self._views():
            if view.is_symlink():
                target = Path(os.path.realpath(view))
                out[view] = target.name if target.parent == blobs and _regular(target) else None
                continue
            try:
                out[view] = inodes.get(view.lstat().st_ino)
            except OSError:
                out[view] = None
        return out

    def verify(self, remove: bool = False) -> tuple[int, list[Problem]]:
        """Re-hash every blob (one thread per core; hashlib releases the GIL); report (and with `remove`,
        delete) those whose bytes changed, and views that point at no blob."""
        from concurrent.futures import ThreadPoolExecutor

        blobs = self._blobs()
        problems = []
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            actuals = list(pool.map(_actual, blobs))
        links = self._links()
        for blob, actual in zip(blobs, actuals):
            if actual != blob.name:
                problems.append(Problem(blob, f"sha256 is {actual}, expected {blob.name}" if len(actual) == 64 else actual))
                if remove:
                    self._remove_blob(blob.name, links)
            elif remove:
                self._write_record(blob.name)
        for view, sha in self._links().items():
            if sha is None:
                outside = view.is_symlink() and not os.path.realpath(view).startswith(os.path.realpath(self.root) + os.sep)
                problems.append(Problem(view, f"points outside the cache, at {os.path.realpath(view)}" if outside
                                        else "not linked to any cached blob"))
                if remove:
                    view.unlink(missing_ok=True)
        return len(blobs), problems

    def _remove_blob(self, sha256: str, links: dict[Path, str | None] | None = None) -> None:
        """Remove a blob, its stat record and the views linking to it (`links`: from _links, when removing many)."""
        for view, sha in (self._links() if links is None else links).items():
            if sha == sha256:
                view.unlink(missing_ok=True)
        _discard(self.blob(sha256))
        self._record(sha256).unlink(missing_ok=True)

    def prune(self, stale_after: float = 86400.0, dry_run: bool = False) -> list[Path]:
        """Remove what the cache itself knows is unused: blobs no view links to any more (superseded or orphaned),
        and temp files older than `stale_after` s. Which models exist right now is never consulted."""
        if not self._owned():
            return []
        links = self._links()
        linked = set(links.values())
        cutoff = time.time() - stale_after
        removed = [b for b in self._blobs() if b.name not in linked]
        removed += [p for p in (self.root / "tmp").glob("*") if p.suffix in (".part", ".origin")
                    and p.lstat().st_mtime < cutoff]
        if not dry_run:
            for path in removed:
                if path.parent.name == "sha256":
                    self._remove_blob(path.name, links)
                else:
                    path.unlink(missing_ok=True)
        return removed

    def remove(self, model: str, artifact: str | None = None, dry_run: bool = False) -> list[Path]:
        """Remove the views of `model` (or of one of its artifacts) and the blobs nothing else links to."""
        if not self._owned():
            return []
        links = self._links()
        views = [v for v in links if v.parent.parent.name == model and artifact in (None, v.parent.name)]
        mine = set(views)
        others = {sha for v, sha in links.items() if v not in mine}
        blobs = sorted({sha for v in views if (sha := links[v]) and sha not in others})
        if not dry_run:
            for view in views:
                view.unlink(missing_ok=True)
            for sha in blobs:
                self._remove_blob(sha, links)
        return views + [self.blob(sha) for sha in blobs]

    def clear(self, dry_run: bool = False) -> list[Path]:
        """Delete everything in the cache: each top-level entry is first renamed into one trash folder (atomic,
        so a concurrent fetch or a failure never leaves a half-deleted blob at a final path), then removed.
        A symlinked cache folder keeps its link; its contents go. Returns the top-level entries removed."""
        if not self.root.exists():
            return []
        if not self.root.is_dir():
            raise CacheError(f"the cache path {self.root} is not a folder", "point ZOO_CACHE_DIR at a folder")
        if not self._owned():
            return []
        entries = sorted(p for p in self.root.iterdir() if p.name != TAG)
        if dry_run:
            return entries
        trash = self.root / f".clearing-{uuid.uuid4().hex}"
        try:
            trash.mkdir()
            for entry in os.listdir(self.root):
                if entry not in (trash.name, TAG):
                    os.rename(self.root / entry, trash / entry)
        except OSError as e:
            raise _unwritable(self.root, e) from None
        finally:
            shutil.rmtree(trash, ignore_errors=True)
        return entries


def _entries(folder: Path) -> list[os.DirEntry]:
    """A folder's entries (none when it is missing or not a folder)."""
    try:
        with os.scandir(folder) as it:
            return list(it)
    except (FileNotFoundError, NotADirectoryError):
        return []


def read_record(path: str) -> tuple[int, ...] | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        return tuple(map(int, os.read(fd, 128).split()))
    except ValueError:
        return None
    finally:
        os.close(fd)


def _regular(path: Path) -> bool:
    """A regular file itself, not through a symlink."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _actual(blob: Path) -> str:
    """A blob's sha256, or what is wrong with it when it is not a regular file."""
    if _regular(blob):
        return file_digest(blob).sha256
    return "a symlink, not a regular file" if blob.is_symlink() else "a directory, not a regular file" if blob.is_dir() \
        else "not a regular file"


def _discard(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _touch(path: str) -> None:
    """Mark a record as used (never through a link); a read-only cache simply keeps the old time."""
    try:
        os.utime(path, follow_symlinks=False)
    except OSError:
        pass


def _unwritable(root: Path, e: OSError) -> CacheError:
    return CacheError(f"the cache at {root} cannot be written: {e.strerror}",
                      "free some space or make it writable, point ZOO_CACHE_DIR at another folder, "
                      "or set ZOO_OFFLINE=1 (zoo fetch --offline) to use only files already cached")
