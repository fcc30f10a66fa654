"""Remembered hits (zoo/hit.py) through the real command line: the memo in the cache is hostile too, and the fast path
says exactly what the full path says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import pinned, write_model

DATA = os.urandom(50_000)


def zoo(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


def test_a_memo_zoo_cannot_read_is_ignored_and_rewritten(zoo_env, server, tmp_path):
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    path = zoo("fetch", "m", "-t", "cpu").stdout.strip()
    memo = tmp_path / "cache" / "index" / "hits.json"
    remembered = json.loads(memo.read_text())
    (key, entry), = remembered.items()
    entry["manifests"][0][1] = [float("inf"), 1, 2]  # json writes Infinity
    for planted in ("[" * 100_000, json.dumps({key: entry}), "\x00\xff not json", "[]"):
        memo.write_text(planted)
        for _ in range(2):  # the full path, then (memo rewritten) the fast path
            proc = zoo("fetch", "m", "-t", "cpu")
            assert proc.returncode == 0 and proc.stderr == "" and proc.stdout.strip() == path, (planted[:20], proc.stderr)
        assert json.loads(memo.read_text())[key]["path"] == path


def test_the_fast_path_never_prints_terminal_escapes_from_a_manifest(zoo_env, server):
    """A fallback warning quotes the manifest's `unpublished` text; the second fetch answers from the memo."""
    evil = "not yet\x1b]0;owned\x07\x1b[2J done"
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)]),
                               {"id": "npu", "target": "imx8mp", "sources": [], "sha256": None, "unpublished": evil}])
    first, second = zoo("fetch", "m", "-t", "imx8mp"), zoo("fetch", "m", "-t", "imx8mp")
    assert first.returncode == second.returncode == 0
    assert len(server.requests) == 1  # the second was a remembered hit
    for proc in (first, second):
        assert "\x1b" not in proc.stderr and "\x07" not in proc.stderr
        assert "not yet]0;owned[2J done" in proc.stderr
    assert first.stderr == second.stderr


def test_an_unusable_zoo_offline_is_an_error_even_for_a_remembered_hit(zoo_env, server):
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    assert zoo("fetch", "m", "-t", "cpu").returncode == 0
    for args in (("fetch", "m", "-t", "cpu"), ("fetch", "m", "-t", "cpu", "--json")):
        proc = zoo(*args, ZOO_OFFLINE="maybe")
        assert proc.returncode == 1 and proc.stdout == ""
        assert proc.stderr == "error: ZOO_OFFLINE='maybe' is neither yes nor no (set ZOO_OFFLINE=1 (or 0), or unset it)\n"


def test_a_hit_in_a_cache_from_before_the_tag_leaves_it_a_zoo_cache(zoo_env, server, tmp_path):
    """A cache made before zoo marked its caches: a hit adopts it (index/ is part of the layout), and the cache
    commands go on working."""
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    path = zoo("fetch", "m", "-t", "cpu").stdout.strip()
    cache = tmp_path / "cache"
    (cache / "CACHEDIR.TAG").unlink()
    for p in (cache / "index").iterdir():
        p.unlink()
    (cache / "index").rmdir()
    assert zoo("fetch", "m", "-t", "cpu").stdout.strip() == path  # a hit; it remembers into index/
    proc = zoo("cache", "prune", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert (cache / "CACHEDIR.TAG").is_file() and Path(path).read_bytes() == DATA
    write_model(zoo_env, "n", [pinned(DATA[::-1], sources=[server.add("/n.tflite", DATA[::-1])])])
    assert zoo("fetch", "n", "-t", "cpu").returncode == 0  # a miss into the same cache
