"""The manifest watch (zoo/watch.py): quiet exactly while nothing watched changed, per process."""

from __future__ import annotations

import os
import sys

import pytest

from zoo import watch

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the manifest watch is Linux's inotify")


def test_quiet_until_a_watched_file_or_folder_changes(tmp_path):
    folder, elsewhere = tmp_path / "m", tmp_path / "elsewhere"
    folder.mkdir()
    elsewhere.mkdir()
    (elsewhere / "b.yaml").write_text("b")
    (folder / "a.yaml").write_text("a")
    (folder / "b.yaml").symlink_to(elsewhere / "b.yaml")
    paths = [str(folder), str(folder / "a.yaml"), str(folder / "b.yaml")]
    for change in (lambda: (folder / "a.yaml").write_text("A"),  # in place
                   lambda: os.utime(folder / "a.yaml", (1, 1)),
                   lambda: (elsewhere / "b.yaml").write_text("B"),  # through the symlink
                   lambda: (folder / "c.yaml").write_text("c"),
                   lambda: (folder / "c.yaml").unlink()):
        since = watch.mark(paths)
        assert since is not None and watch.quiet(since)
        (folder / "a.yaml").read_text()  # reading is no change
        assert watch.quiet(since)
        change()
        assert not watch.quiet(since)
    assert watch.mark([str(tmp_path / "absent")]) is not None  # not watched: the caller stats the folders itself


def test_a_forked_child_keeps_its_own_queue(tmp_path):
    (tmp_path / "a.yaml").write_text("a")
    since = watch.mark([str(tmp_path), str(tmp_path / "a.yaml")])
    pid = os.fork()
    if pid == 0:  # the child: the parent's mark is not its own, and it reads nothing from the parent's queue
        os._exit(0 if not watch.quiet(since) and watch.mark([str(tmp_path)]) is not None else 1)
    assert os.waitpid(pid, 0)[1] == 0
    assert watch.quiet(since)
    (tmp_path / "a.yaml").write_text("A")
    assert not watch.quiet(since)
