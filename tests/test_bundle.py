"""zoo import against hostile bundles: real tar (and gzip) files made here, each refused with the cache untouched."""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import time

import pytest
import yaml
from conftest import MINIMAL

from zoo import bundle
from zoo.cache import Cache
from zoo.errors import BadBundle

DATA = os.urandom(50_000)
SHA = hashlib.sha256(DATA).hexdigest()
EVIL = os.urandom(50_000)
EVIL_SHA = hashlib.sha256(EVIL).hexdigest()


def manifest(**artifact) -> dict:
    data = copy.deepcopy(MINIMAL)
    data["name"] = "b"
    data["artifacts"][0].update(size=len(DATA), sha256=SHA, **artifact)
    return data


def members(m: dict | None = None, data: bytes = DATA, sha: str = SHA, index_files: list | None = None) -> list:
    """The members `zoo bundle` writes, in its order, with the pieces a test wants to change."""
    m = m or manifest()
    a = m["artifacts"][0]
    files = index_files if index_files is not None else [
        {"artifact": a["id"], "target": a["target"], "file": a["file"], "member": f"files/{sha}", "size": len(data), "sha256": sha}]
    index = {"format": bundle.FORMAT, "model": m["name"], "files": files}
    return [("bundle.json", json.dumps(index).encode()), ("SHA256SUMS", f"{sha}  {a['file']}\n".encode()),
            (f"manifests/{m['name']}.yaml", yaml.safe_dump(m).encode()), ("LICENSE", b"Apache-2.0\n"),
            (f"files/{sha}", data)]


def raw_members(parts) -> bytes:
    """Tar headers and padded data, without the end-of-archive blocks, so a test can append what it likes."""
    out = b""
    for name, data in parts:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        out += info.tobuf() + data + bytes(-len(data) % 512)
    return out


def write_tar(path, parts, gz: bool = False):
    data = raw_members(parts) + bytes(1024)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def snapshot(root) -> dict:
    """Every file and link under `root` with its bytes (or link target): what 'unchanged' means."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            out[os.path.relpath(p, root)] = os.readlink(p) if os.path.islink(p) else open(p, "rb").read()
    return out


@pytest.fixture
def device(tmp_path, monkeypatch):
    """A device cache that already holds a verified copy of model b's file, and an empty manifests folder."""
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    good = write_tar(tmp_path / "good.tar", members())
    bundle.install(good, tmp_path / "manifests")
    before = (snapshot(tmp_path / "cache"), snapshot(tmp_path / "manifests"))
    yield tmp_path
    assert (snapshot(tmp_path / "cache"), snapshot(tmp_path / "manifests")) == before, "a refused bundle changed the cache"
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []
    assert not any(p.name in ("x", "x.yaml", "planted") for p in tmp_path.parent.rglob("*") if tmp_path not in p.parents)


def refuse(path, match, manifests=None):
    with pytest.raises(BadBundle, match=match) as info:
        bundle.install(path, manifests)
    assert "nothing was installed" in str(info.value) or "does not exist" in str(info.value)


def test_good_bundle_installs_under_validated_names(device):
    cache = Cache(device / "cache")
    assert cache.view("b", "cpu-int8", "tiny.tflite").read_bytes() == DATA
    assert yaml.safe_load((device / "manifests" / "b.yaml").read_text())["name"] == "b"


@pytest.mark.parametrize(("change", "match"), [
    (lambda m: m["artifacts"][0].update(file="../../../../x"), "manifest is invalid: artifacts\\[0\\].file"),
    (lambda m: m["artifacts"][0].update(id="../../x"), "manifest is invalid: artifacts\\[0\\].id"),
    (lambda m: m.update(name="../planted"), "manifest is invalid: name"),
    (lambda m: m["artifacts"][0].update(size="50000"), "manifest is invalid: artifacts\\[0\\].size"),
])
def test_names_come_only_from_a_valid_manifest(device, change, match):
    m = manifest()
    change(m)
    parts = members(m)
    parts[2] = ("manifests/b.yaml", parts[2][1])
    refuse(write_tar(device / "evil.tar", parts), match, device / "manifests")


def test_index_names_that_the_manifest_lacks_are_refused(device):
    parts = members(index_files=[{"artifact": "../../x", "member": f"files/{SHA}", "file": "../../x", "size": len(DATA), "sha256": SHA}])
    refuse(write_tar(device / "evil.tar", parts), "bundle.json lists '../../x', which its manifest does not have")


def test_manifest_member_outside_manifests_is_refused(device):
    parts = members()
    parts[2] = ("manifests/../../x.yaml", parts[2][1])
    refuse(write_tar(device / "evil.tar", parts), "unexpected or repeated member 'manifests/../../x.yaml'", device / "manifests")


def test_self_consistent_bundle_with_other_bytes_than_the_pin_is_refused(device):
    """bundle.json, SHA256SUMS and the member name all agree on EVIL; the manifest pins DATA."""
    refuse(write_tar(device / "evil.tar", members(data=EVIL, sha=EVIL_SHA)), "SHA256SUMS and the manifest disagree")


def test_bytes_that_differ_from_the_pin_are_refused(device):
    parts = members()
    parts[-1] = (parts[-1][0], EVIL)
    refuse(write_tar(device / "evil.tar", parts), f"sha256 mismatch for .*tiny.tflite: expected {SHA}, got {EVIL_SHA}")


def test_duplicate_members_are_refused(device):
    parts = members()
    refuse(write_tar(device / "dup.tar", [*parts, parts[-1]]), "is duplicated or not listed")
    refuse(write_tar(device / "dup2.tar", [parts[0], *parts]), "unexpected or repeated member 'bundle.json'")


def test_a_member_is_refused_by_its_declared_size_before_it_is_read(device):
    parts = members()
    info = tarfile.TarInfo(parts[-1][0])
    info.size = 10 ** 12
    (device / "huge.tar").write_bytes(raw_members(parts[:-1]) + info.tobuf() + DATA[:4096])
    refuse(device / "huge.tar", "tiny.tflite declares 1,000,000,000,000 bytes; the manifest says 50000")


def test_gzip_bomb_stops_at_the_budget(device):
    """64 MiB of zeros in one pax header compress to ~64 KiB; tarfile would read the header whole into memory."""
    header = tarfile.TarInfo("././@PaxHeader")
    header.type, header.size = tarfile.XHDTYPE, 64 << 20
    bomb = device / "bomb.tar.gz"
    with gzip.open(bomb, "wb", compresslevel=1) as gz:
        gz.write(header.tobuf(tarfile.USTAR_FORMAT))
        for _ in range(64):
            gz.write(bytes(1 << 20))
    assert bomb.stat().st_size < 1 << 20
    start = time.monotonic()
    refuse(bomb, "it expands past the 8,388,608 bytes its manifest accounts for")
    assert time.monotonic() - start < 30


def test_gzipped_bundle_installs(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    (installed,) = bundle.install(write_tar(tmp_path / "b.tar.gz", members(), gz=True))
    assert installed.path.read_bytes() == DATA


@pytest.mark.parametrize("damage", ["links", "missing", "truncated", "notar"])
def test_other_damage_is_refused(device, damage):
    parts = members()
    path = device / "bad.tar"
    if damage == "links":
        link = tarfile.TarInfo(parts[-1][0])
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        path.write_bytes(raw_members(parts[:-1]) + link.tobuf() + bytes(1024))
        match = "is not a regular file"
    elif damage == "missing":
        write_tar(path, parts[:-1])
        match = "it holds no files"
    elif damage == "truncated":
        path.write_bytes(write_tar(path, parts).read_bytes()[:30_000])
        match = "damaged or not a zoo bundle"
    else:
        path.write_bytes(b"not a tar at all" * 100)
        match = "damaged or not a zoo bundle"
    refuse(path, match)


def test_missing_bundle_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    refuse(tmp_path / "nothere.tar", "does not exist")


def test_cli_refusal_is_one_line(tmp_path):
    parts = members()
    parts[-1] = (parts[-1][0], EVIL)
    path = write_tar(tmp_path / "evil.tar", parts)
    env = {**os.environ, "ZOO_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-m", "zoo", "import", str(path)], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 1 and proc.stdout == ""
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"error: refusing {path}: sha256 mismatch") and line.endswith("nothing was installed")
