"""Getting one pinned file into the cache, through the real command line: what is planted in the cache or kept from an
interrupted download is hostile until the pin says otherwise."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import pinned, write_model

DATA = os.urandom(300_000)
SHA = hashlib.sha256(DATA).hexdigest()


def zoo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, timeout=120, env=os.environ)


def new_cache(tmp_path) -> Path:
    """A cache zoo made (so it is marked as zoo's), with nothing in it yet."""
    cache = tmp_path / "cache"
    from zoo.cache import Cache

    Cache(cache).temp()
    return cache


def test_links_planted_at_the_partial_and_lock_paths_are_never_written_through(zoo_env, server, tmp_path):
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    cache = new_cache(tmp_path)
    outside = tmp_path / "precious.txt"
    outside.write_bytes(b"32 bytes of someone else's data!")
    (cache / "tmp" / f"{SHA}.part").symlink_to(outside)
    (cache / "locks").mkdir()
    (cache / "locks" / f"{SHA}.lock").symlink_to(outside)
    proc = zoo("fetch", "m", "--target", "cpu")
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()).read_bytes() == DATA
    assert outside.read_bytes() == b"32 bytes of someone else's data!"
    assert "Range" not in server.requests[-1][1]  # nothing was "resumed" from the planted file


def test_a_partial_is_continued_only_from_the_source_that_wrote_it(zoo_env, server, tmp_path):
    """An interrupted download from /a leaves a partial; a later run that has /b first does not continue /a's bytes
    with /b's, but resumes from /a (tried first, since it wrote them) with If-Range."""
    a, b = server.add("/a", DATA, "drop", "status:500", "status:500", "status:500", "status:500", "status:500", "ok"), \
        server.add("/b", DATA)
    write_model(zoo_env, "m", [pinned(DATA, sources=[a])])
    first = zoo("fetch", "m", "--target", "cpu")
    assert first.returncode == 1
    partial = tmp_path / "cache" / "tmp" / f"{SHA}.part"
    kept = partial.stat().st_size
    assert 0 < kept < len(DATA)
    assert json.loads(partial.with_suffix(".origin").read_text())["source"] == a
    write_model(zoo_env, "m", [pinned(DATA, sources=[b, a])])
    second = zoo("fetch", "m", "--target", "cpu")
    assert second.returncode == 0, second.stderr
    assert Path(second.stdout.strip()).read_bytes() == DATA
    path, headers = server.requests[-1]
    assert path == "/a" and headers["Range"] == f"bytes={kept}-" and headers["If-Range"].startswith('"')
    assert f"resuming tiny.tflite after {kept:,} bytes" in second.stderr
    assert not partial.exists() and not partial.with_suffix(".origin").exists()


def test_a_416_discards_the_partial_and_the_next_source_starts_over(zoo_env, server, tmp_path):
    """A stale mirror's bytes were kept; asked to continue past its own (shorter) object, the mirror answers 416 as
    the Range spec says. Those bytes are dropped, and the good source serves the whole file in the same run."""
    stale = DATA[:1000]
    mirror, good = server.add("/stale", stale), server.add("/good", DATA)
    write_model(zoo_env, "m", [pinned(DATA, sources=[mirror, good])])
    cache = new_cache(tmp_path)
    partial = cache / "tmp" / f"{SHA}.part"
    partial.write_bytes(stale + b"x" * 1000)
    etag = '"%s"' % hashlib.sha256(stale).hexdigest()[:16]
    partial.with_suffix(".origin").write_text(json.dumps({"source": mirror, "validator": etag}))
    proc = zoo("fetch", "m", "--target", "cpu")
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()).read_bytes() == DATA
    assert [(p, h.get("Range")) for p, h in server.requests] == [("/stale", "bytes=2000-"), ("/good", None)]


def test_a_partial_already_complete_is_verified_and_installed_without_the_network(zoo_env, server, tmp_path):
    """Killed between the last byte and the rename: the next run hashes the partial and keeps it; it never asks a
    server for the bytes past the end."""
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    cache = new_cache(tmp_path)
    (cache / "tmp" / f"{SHA}.part").write_bytes(DATA)
    proc = zoo("fetch", "m", "--target", "cpu")
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()).read_bytes() == DATA and server.requests == []


def test_a_folder_at_the_models_readable_path_leaves_no_temporary_link(zoo_env, server, tmp_path):
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    cache = new_cache(tmp_path)
    view = cache / "models" / "m" / "cpu-int8" / "tiny.tflite"
    view.mkdir(parents=True)
    (view / "mine.txt").write_text("a user's file")
    for _ in range(2):  # a miss, then a hit
        proc = zoo("fetch", "m", "--target", "cpu")
        assert proc.returncode == 0, proc.stderr
        assert Path(proc.stdout.strip()).read_bytes() == DATA
    assert sorted(p.name for p in view.parent.iterdir()) == ["tiny.tflite"]
    assert (view / "mine.txt").read_text() == "a user's file"


def test_a_cached_file_that_fails_verification_is_said_to_be_removed(zoo_env, server, tmp_path):
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    path = Path(zoo("fetch", "m", "--target", "cpu").stdout.strip())
    blob = tmp_path / "cache" / "blobs" / "sha256" / SHA
    blob.chmod(0o644)
    with open(blob, "r+b") as f:
        f.seek(1000)
        f.write(bytes([DATA[1000] ^ 1]))
    proc = zoo("fetch", "m", "--target", "cpu", "--offline")
    assert proc.returncode == 1
    assert ("warning: the cached tiny.tflite failed verification (its bytes no longer match sha256 "
            f"{SHA}) and was removed") in proc.stderr
    assert "(a copy that failed verification was removed) and zoo is offline" in proc.stderr
    assert not path.exists() and not blob.exists()


def _zip(member: bytes, patch) -> bytes:
    """A zip of one deflated member `m.tflite`, then `patch`ed (bytes -> bytes)."""
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("m.tflite", member)
    return patch(out.getvalue())


def _header_fields(data: bytes, offset: int, value: bytes) -> bytes:
    """`value` written at `offset` into both the local header and the central directory entry of the one member."""
    local, central = data.index(b"PK\x03\x04"), data.index(b"PK\x01\x02")
    data = bytearray(data)
    data[local + offset:local + offset + len(value)] = value
    data[central + offset + 2:central + offset + 2 + len(value)] = value  # the central entry has 'version made by' first
    return bytes(data)


@pytest.mark.parametrize(("patch", "said"), [
    (lambda d: d[:40] + bytes(b ^ 0xFF for b in d[40:60]) + d[60:], "damaged"),  # invalid deflate data
    (lambda d: _header_fields(d, 8, b"\x06\x00"), "compression method"),  # 6: implode, which zipfile cannot read
    (lambda d: _header_fields(d, 6, b"\x01\x00"), "encrypted"),  # the flag that says a password is needed
])
def test_a_hostile_member_archive_fails_in_one_line(zoo_env, server, tmp_path, patch, said):
    archive = _zip(DATA, patch)
    write_model(zoo_env, "m", [pinned(DATA, sources=["member://wheel/m.tflite"])],
                upstream=[{"id": "wheel", "kind": "zip-archive", "file": "w.zip",
                           **pinned(archive, sources=[server.add("/w.zip", archive)])}])
    proc = zoo("fetch", "m", "--target", "cpu")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert said in proc.stderr and "w.zip" in proc.stderr
    assert not list((tmp_path / "cache").glob("models/*/cpu/*.tflite"))
