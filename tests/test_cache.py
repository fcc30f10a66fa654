"""The cache across processes: one download for many, kills leave nothing bad, verify/prune/list/clear."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time

from conftest import pinned, write_model

import zoo
from zoo.cache import Cache

DATA = os.urandom(1_000_000)
SHA = hashlib.sha256(DATA).hexdigest()
RESOLVE = ("import time; start = time.time(); import zoo, warnings; warnings.simplefilter('ignore'); "
           "print(start); print(zoo.resolve('m', target='cpu').path)")


def spawn(code: str = RESOLVE) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_many_processes_download_once_and_all_get_the_path(zoo_env, server, tmp_path):
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA, "slow:0.05")])])
    procs = [spawn() for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [e for _, e in outs]
    starts, paths = zip(*(o.split() for o, _ in outs))
    assert set(paths) == {str(tmp_path / "cache" / "models" / "m" / "cpu-int8" / "tiny.tflite")}
    assert server.bodies["/m.tflite"] == 1 and len(server.requests) == 1
    assert max(map(float, starts)) < server.finished["/m.tflite"], "every process must start while the download runs"


def test_without_the_lock_rename_still_keeps_the_cache_correct(zoo_env, server, monkeypatch):
    monkeypatch.setenv("ZOO_LOCK_TIMEOUT", "0")
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA, "slow:0.02")])])
    procs = [spawn() for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 3, [e for _, e in outs]
    assert len({o.split()[1] for o, _ in outs}) == 1
    path = outs[0][0].split()[1]
    assert hashlib.sha256(open(path, "rb").read()).hexdigest() == SHA


def test_killed_download_leaves_no_bad_file_and_next_fetch_succeeds(zoo_env, server, tmp_path):
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA, "slow:0.1", "ok")])])
    proc = spawn()
    tmp = tmp_path / "cache" / "tmp"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(p.stat().st_size > 0 for p in tmp.glob("*.part")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert any(tmp.glob("*.part")), "the kill should have landed mid-download"
    assert not (tmp_path / "cache" / "blobs").exists() and not (tmp_path / "cache" / "models").exists()
    r = zoo.resolve("m", target="cpu")
    assert hashlib.sha256(r.path.read_bytes()).hexdigest() == SHA


def test_verify_finds_and_removes_tampered_entries(zoo_env, server, tmp_path):
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    path = zoo.resolve("m", target="cpu").path
    cache = Cache(tmp_path / "cache")
    assert cache.verify() == (1, [])
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(1000)
        f.write(b"tampered")
    checked, problems = cache.verify()
    assert checked == 1 and [p.path.name for p in problems] == [SHA]
    assert problems[0].message.startswith("sha256 is ") and problems[0].message.endswith(f", expected {SHA}")
    cache.verify(remove=True)
    assert not path.exists() and cache.verify() == (0, [])
    assert zoo.resolve("m", target="cpu").path.read_bytes() == DATA


def test_list_shows_model_artifact_size_and_last_use(zoo_env, server, tmp_path):
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    before = time.time()
    zoo.resolve("m", target="cpu")
    (entry,) = Cache(tmp_path / "cache").entries()
    assert (entry.model, entry.artifact, entry.file, entry.size, entry.sha256) == ("m", "cpu-int8", "tiny.tflite", len(DATA), SHA)
    assert entry.last_used >= before - 1


def test_prune_removes_unreferenced_blobs_and_stale_parts(zoo_env, server, tmp_path):
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    path = zoo.resolve("m", target="cpu").path
    cache = Cache(tmp_path / "cache")
    stale = cache.temp()
    stale.write_bytes(b"partial")
    os.utime(stale, (0, 0))
    fresh = cache.temp()
    fresh.write_bytes(b"in progress")
    assert cache.prune(keep={SHA}) == [stale]
    assert path.exists() and fresh.exists()
    removed = cache.prune(keep=set())
    assert cache.blob(SHA) in removed and not path.exists()


def test_clear_removes_everything(zoo_env, server, tmp_path):
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    zoo.resolve("m", target="cpu")
    Cache(tmp_path / "cache").clear()
    assert not (tmp_path / "cache").exists()


def test_symlinked_view_is_found_by_list(tmp_path):
    cache = Cache(tmp_path)
    blob = cache.blob(SHA)
    blob.parent.mkdir(parents=True)
    blob.write_bytes(DATA)
    view = cache.view("m", "a", "f.tflite")
    view.parent.mkdir(parents=True)
    view.symlink_to(blob)
    assert [e.sha256 for e in cache.entries()] == [SHA]
    assert cache.lookup("m", "a", "f.tflite", SHA) == view
