"""Whether any manifest file changed since a moment, for the warm hit: one poll of an inotify queue on Linux instead
of a stat per manifest file (a stat misses nothing, but a catalog of hundreds costs a stat each on every hit).

Each folder and each file is watched by itself (a file's watch follows a symlink, and sees edits made through any
hard link). Where inotify is missing or refuses a watch (another OS, the per-user watch limit), `mark` gives None
and the caller checks every file by stat, as before. A change made on another machine to a network file system
raises no event: a process that must see those resolves in a fresh process (whose hit checks every file).
"""

from __future__ import annotations

import os
import select

# Every change to a file's bytes, times or name, a folder's entries, or the watched object itself; IN_IGNORED and
# IN_Q_OVERFLOW (a watch dropped, events lost) are always reported and count as changes too.
_MASK = 0x2 | 0x4 | 0x8 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x800
_READ = 65536


class _Queue:
    def __init__(self) -> None:
        import ctypes

        self._libc = ctypes.CDLL(None, use_errno=True)
        fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self.fd = fd
        self.generation = 0
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN)

    def watch(self, path: str) -> bool:
        return self._libc.inotify_add_watch(self.fd, os.fsencode(path), _MASK) >= 0

    def drain(self) -> int:
        """The generation, one higher for each batch of events read since the last call."""
        while self._poll.poll(0):
            try:
                while os.read(self.fd, _READ):
                    pass
            except BlockingIOError:
                pass
            self.generation += 1
        return self.generation


_queue: list[_Queue | None] = []  # empty until first used; [None] where inotify is not available


def _get() -> _Queue | None:
    if not _queue:
        try:
            _queue.append(_Queue())
        except (OSError, AttributeError):  # AttributeError: a libc without inotify_init1
            _queue.append(None)
    return _queue[0]


def _forget_in_child() -> None:
    """A forked child shares the parent's queue: reading it would hide events from the parent. It makes its own."""
    if _queue and _queue[0] is not None:
        os.close(_queue[0].fd)
    _queue.clear()


os.register_at_fork(after_in_child=_forget_in_child)


Mark = tuple  # (the queue, its generation)


def mark(paths) -> Mark | None:
    """Watch `paths` from now on and return the mark to pass to `quiet`; None if one cannot be watched (a path that
    does not exist is not watched: the caller stats the folders each time)."""
    queue = _get()
    if queue is None:
        return None
    generation = queue.drain()
    for path in paths:
        if not queue.watch(path) and os.path.exists(path):
            return None
    return queue, generation


def quiet(since: Mark) -> bool:
    """True if no watched file or folder changed since `mark` returned `since` (in this process: a forked child has
    a queue of its own)."""
    queue, generation = since
    return bool(_queue) and _queue[0] is queue and queue.drain() == generation
