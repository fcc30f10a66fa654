"""The cache across processes: one download for many, kills leave nothing bad, verify/prune/list/clear."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import pinned, write_model

import zoo
from zoo.cache import Cache

DATA = os.urandom(1_000_000)
SHA = hashlib.sha256(DATA).hexdigest()
RESOLVE = ("import zoo, warnings; warnings.simplefilter('ignore'); print('ready', flush=True); "
           "print(zoo.resolve('m', target='cpu').path)")


def spawn(code: str = RESOLVE) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_many_processes_download_once_and_all_get_the_path(zoo_env, server, tmp_path):
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA, "hold")])])
    procs = [spawn() for _ in range(4)]
    assert [p.stdout.readline() for p in procs] == ["ready\n"] * 4
    time.sleep(0.5)  # every process is past its imports and into resolve(); the one download is held meanwhile
    server.release.set()
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [e for _, e in outs]
    assert {o.strip() for o, _ in outs} == {str(tmp_path / "cache" / "models" / "m" / "cpu-int8" / "tiny.tflite")}
    assert server.bodies["/m.tflite"] == 1 and len(server.requests) == 1


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
    assert cache.prune() == [stale]
    assert path.exists() and fresh.exists()
    path.unlink()  # the view is gone (superseded): its blob is now unlinked
    assert cache.prune(dry_run=True) == [cache.blob(SHA)] and cache.blob(SHA).exists()
    assert cache.prune() == [cache.blob(SHA)] and not cache.blob(SHA).exists()


def test_clear_removes_everything(zoo_env, server, tmp_path):
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    zoo.resolve("m", target="cpu")
    Cache(tmp_path / "cache").clear()
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["CACHEDIR.TAG"]


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


# Odd, full, shared and read-only cache folders.

def zoo_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, timeout=120, env=env or os.environ)


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


def test_read_only_cache_serves_hits_and_a_miss_is_one_line(zoo_env, server, tmpfs, monkeypatch):
    from conftest import remount

    root = tmpfs("4m")
    monkeypatch.setenv("ZOO_CACHE_DIR", str(root))
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    write_model(zoo_env, "other", [pinned(DATA[::-1], sources=[server.add("/o.tflite", DATA[::-1])])])
    path = zoo.resolve("m", target="cpu").path
    (path.parent / path.name).unlink()  # the view must be re-linked on a read-only disk: it cannot be
    remount(root, "ro")
    hit = zoo_cli("fetch", "m", "--target", "cpu")
    assert hit.returncode == 0, hit.stderr
    assert Path(hit.stdout.strip()).read_bytes() == DATA
    assert "cannot be written: Read-only file system" in one_error_line(zoo_cli("fetch", "other", "--target", "cpu"))
    assert len(server.requests) == 1


def test_blob_replaced_by_a_symlink_or_folder_is_never_returned(zoo_env, server, tmp_path):
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    cache = Cache(tmp_path / "cache")
    outside = tmp_path / "outside.bin"
    outside.write_bytes(DATA)
    for swap in (lambda b: b.symlink_to(outside), lambda b: b.mkdir()):
        r = zoo.resolve("m", target="cpu")
        blob = cache.blob(SHA)
        os.chmod(blob, 0o644)
        blob.unlink()
        r.path.unlink()
        swap(blob)
        again = zoo.resolve("m", target="cpu")
        assert again.path.read_bytes() == DATA and os.path.samefile(again.path, blob)
        assert not blob.is_symlink() and blob.is_file() and not os.path.samefile(blob, outside)
    assert server.bodies["/m.tflite"] == 3


def test_verify_reports_blobs_that_are_not_files_and_views_that_leave_the_cache(tmp_path):
    cache = Cache(tmp_path / "cache")
    blobs = cache.blob(SHA).parent
    blobs.mkdir(parents=True)
    (blobs / ("a" * 64)).mkdir()
    (tmp_path / "elsewhere").write_bytes(DATA)
    (blobs / ("b" * 64)).symlink_to(tmp_path / "elsewhere")
    view = cache.view("m", "a", "f.tflite")
    view.parent.mkdir(parents=True)
    view.symlink_to(tmp_path / "elsewhere")
    checked, problems = cache.verify()
    assert checked == 2
    assert {(p.path.name, p.message) for p in problems} == {
        ("a" * 64, "a directory, not a regular file"),
        ("b" * 64, "a symlink, not a regular file"),
        ("f.tflite", f"points outside the cache, at {tmp_path / 'elsewhere'}"),
    }
    assert cache.lookup("m", "a", "f.tflite", "b" * 64) is None


def test_clear_on_a_symlinked_cache_folder_empties_it_and_keeps_the_link(zoo_env, server, tmp_path, monkeypatch):
    real = tmp_path / "real-cache"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "link"))
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    zoo.resolve("m", target="cpu")
    proc = zoo_cli("cache", "clear", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "link").is_symlink() and [p.name for p in real.iterdir()] == ["CACHEDIR.TAG"]


def test_clear_on_a_full_disk_works(zoo_env, server, tmpfs, monkeypatch):
    root = tmpfs("2m")
    monkeypatch.setenv("ZOO_CACHE_DIR", str(root))
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    zoo.resolve("m", target="cpu")
    with open(root / "filler", "wb") as f:
        try:
            f.write(os.urandom(4 << 20))
        except OSError:
            pass
    assert os.statvfs(root).f_bavail == 0
    proc = zoo_cli("cache", "clear", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert [p.name for p in root.iterdir()] == ["CACHEDIR.TAG"]


def test_fetch_onto_a_full_disk_is_one_line_and_leaves_nothing(zoo_env, server, tmpfs, monkeypatch):
    root = tmpfs("512k")
    monkeypatch.setenv("ZOO_CACHE_DIR", str(root))
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    line = one_error_line(zoo_cli("fetch", "m", "--target", "cpu"))
    assert "No space left on device" in line and "ZOO_CACHE_DIR" in line
    assert list((root / "tmp").iterdir()) == [] and not (root / "blobs").exists()


def test_clear_while_another_process_fetches(zoo_env, server, tmp_path):
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA, "hold")])])
    fetching = subprocess.Popen([sys.executable, "-m", "zoo", "fetch", "m", "--target", "cpu"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    tmp = tmp_path / "cache" / "tmp"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not list(tmp.glob("*.part")):
        time.sleep(0.05)
    cleared = zoo_cli("cache", "clear", "--yes")
    server.release.set()
    out, err = fetching.communicate(timeout=60)
    assert cleared.returncode == 0, cleared.stderr
    assert "Traceback" not in err
    if fetching.returncode:
        assert err.strip().splitlines() == ["error: the cache at %s was cleared while tiny.tflite was being installed "
                                            "(run the command again)" % (tmp_path / "cache")]
    checked, problems = Cache(tmp_path / "cache").verify()
    assert problems == []


def test_ctrl_c_keeps_the_partial_and_the_next_fetch_resumes_it(zoo_env, server, tmp_path):
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA, "slow:0.05")])])
    first = subprocess.Popen([sys.executable, "-m", "zoo", "fetch", "m", "--target", "cpu"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    partial = tmp_path / "cache" / "tmp" / f"{SHA}.part"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (partial.exists() and partial.stat().st_size >= 4 * 65536):
        time.sleep(0.02)
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=30)
    assert first.returncode == 130, (first.returncode, err)
    assert err.splitlines()[-1] == "interrupted (a download picks up where it stopped when run again)"
    kept = partial.stat().st_size
    assert 0 < kept < len(DATA)
    server.plans["/m.tflite"] = ["ok"]
    second = zoo_cli("fetch", "m", "--target", "cpu")
    assert second.returncode == 0, second.stderr
    assert Path(second.stdout.strip()).read_bytes() == DATA and not partial.exists()
    assert server.requests[-1][1]["Range"] == f"bytes={kept}-"
    assert f"resuming tiny.tflite after {kept:,} bytes" in second.stderr


def test_a_partial_no_source_vouches_for_is_started_over(zoo_env, server, tmp_path):
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    cache = Cache(tmp_path / "cache")
    cache.partial(SHA).write_bytes(b"garbage from somewhere else")
    assert zoo.resolve("m", target="cpu").path.read_bytes() == DATA
    assert not cache.partial(SHA).exists() and "Range" not in server.requests[-1][1]
