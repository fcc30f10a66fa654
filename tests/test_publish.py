"""Publishing without a network: the planned commit, the card, static mirrors served over loopback, bundles."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

import pytest
import yaml
from conftest import MINIMAL, pinned, write_model

import zoo
from zoo import bundle, card, publish
from zoo.errors import ChecksumMismatch, ZooError

DATA = os.urandom(50_000)
BUILT = os.urandom(40_000)


def built_model(folder, server, out):
    """A manifest with a published artifact (on loopback) and one freshly built by `zoo build` into `out`."""
    doc = json.loads(json.dumps(MINIMAL))
    doc.update(name="pub", upstream=[{"id": "up", "kind": "keras-h5", "file": "w.h5", "sha256": "c" * 64, "sources": []}],
               build={"recipe": "coral_deeplab", "upstream": "up"},
               metrics=[{"name": "mIoU", "value": 71.5, "dataset": "PASCAL VOC 2012", "split": "val", "applies_to": "cpu-int8",
                         "source": "upstream", "citation": "https://example.invalid/paper"}],
               benchmarks=[{"device": "Raspberry Pi 4", "accelerator": "CPU", "runtime": "LiteRT", "threads": 4,
                            "input_size": [8, 8], "latency_ms": 12.5, "applies_to": "cpu-int8", "source": "upstream",
                            "citation": "card"}])
    doc["artifacts"] = [
        {**doc["artifacts"][0], **pinned(DATA), "sources": [server.add("/tiny.tflite", DATA), "https://mirror.invalid/tiny.tflite"]},
        {**doc["artifacts"][0], "id": "npu", "target": "imx8mp", "file": "tiny_npu.tflite", "sources": [], "sha256": None,
         "size": None, "unpublished": "built below", "build": True, "parent": "up", "recipe": "zoo build pub --target imx8mp"},
    ]
    path = folder / "pub.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    out.mkdir()
    (out / "tiny_npu.tflite").write_bytes(BUILT)
    record = {"sha256": hashlib.sha256(BUILT).hexdigest(), "size": len(BUILT), "smoke": False,
              "tool": {"name": "tensorflow", "version": "2.21.0"}, "calibration": {"count": 100, "source": "VOC2012/JPEGImages"},
              "checks": [{"name": "agreement", "passed": True, "detail": "0.97"}]}
    (out / "tiny_npu.tflite.build.json").write_text(json.dumps(record))
    return path


def test_plan_has_verified_artifacts_records_manifest_and_card(zoo_env, server, tmp_path):
    built_model(zoo_env, server, tmp_path / "out")
    p = publish.plan("pub", from_dir=tmp_path / "out", repo="me/pub")
    files = {u.path_in_repo: u for u in p.uploads}
    assert set(files) == {"tiny.tflite", "tiny_npu.tflite", "zoo/tiny_npu.tflite.build.json", "zoo/pub.yaml", "README.md"}
    assert files["tiny.tflite"].sha256 == hashlib.sha256(DATA).hexdigest() and files["tiny.tflite"].local.read_bytes() == DATA
    assert files["tiny_npu.tflite"].sha256 == hashlib.sha256(BUILT).hexdigest() and files["tiny_npu.tflite"].artifact == "npu"
    assert files["README.md"].data.decode() == p.card
    assert "build record: tensorflow 2.21.0, calibration 100 image(s) (VOC2012/JPEGImages), checks: agreement ok" in p.card
    assert "pip install edge-model-zoo" not in p.card  # not on PyPI: the card shows an install that works
    assert "pip install ./zoo" in p.card


def test_a_tampered_build_stops_the_publish(zoo_env, server, tmp_path):
    built_model(zoo_env, server, tmp_path / "out")
    (tmp_path / "out" / "tiny_npu.tflite").write_bytes(BUILT[:-1] + b"!")
    with pytest.raises(ChecksumMismatch, match="sha256/size mismatch for .*tiny_npu.tflite"):
        publish.plan("pub", from_dir=tmp_path / "out")


def test_smoke_builds_are_never_published(zoo_env, server, tmp_path):
    built_model(zoo_env, server, tmp_path / "out")
    record = tmp_path / "out" / "tiny_npu.tflite.build.json"
    record.write_text(json.dumps({**json.loads(record.read_text()), "smoke": True}))
    with pytest.raises(ZooError, match="is a smoke build"):
        publish.plan("pub", from_dir=tmp_path / "out")


def test_nothing_to_publish_is_an_error(zoo_env, minimal):
    minimal["artifacts"][0].update(sources=[], sha256=None, unpublished="later")
    (zoo_env / "t.yaml").write_text(yaml.safe_dump(minimal))
    with pytest.raises(ZooError, match="nothing to publish for tiny"):
        publish.plan("tiny")


def test_card_front_matter_validates_and_numbers_equal_the_manifest(zoo_env, server, tmp_path):
    from huggingface_hub import ModelCard

    built_model(zoo_env, server, tmp_path / "out")
    m = zoo.get("pub")
    text = card.render(m)
    card.validate(text)
    data = ModelCard(text).data
    assert data.license == "apache-2.0" and data.library_name == "litert"
    assert {"tflite", "int8", "semantic-segmentation", "nxp"} <= set(data.tags)
    (result,) = data.eval_results
    assert (result.metric_value, result.dataset_name, result.dataset_split) == (71.5, "PASCAL VOC 2012", "val")
    assert "12.5 ms | cpu-int8 | Raspberry Pi 4 | CPU | 4 | LiteRT | 8x8 | card" in text
    assert f"cpu-int8 | cpu | int8 | float32 / float32 | - | tiny.tflite | {hashlib.sha256(DATA).hexdigest()}" in text


def test_bundled_cards_all_validate():
    from zoo import catalog

    cat = catalog.load(extra=[])
    for name in cat.names():
        card.validate(card.render(cat.get(name)))


def test_dry_run_prints_the_plan_and_touches_no_network(zoo_env, server, tmp_path):
    built_model(zoo_env, server, tmp_path / "out")
    proc = subprocess.run([sys.executable, "-m", "zoo", "publish", "pub", "--repo", "me/pub", "--target", "imx8mp",
                           "--from", str(tmp_path / "out"), "--dry-run", "--json"], capture_output=True, text=True, env=os.environ)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [f["path"] for f in data["files"]] == ["tiny_npu.tflite", "zoo/tiny_npu.tflite.build.json", "zoo/pub.yaml", "README.md"]
    assert data["card"].startswith("---\nlicense: apache-2.0\n") and server.requests == []


def test_record_puts_the_pinned_hub_source_first_and_keeps_mirrors(zoo_env, server, tmp_path):
    path = built_model(zoo_env, server, tmp_path / "out")
    p = publish.plan("pub", from_dir=tmp_path / "out", repo="me/pub")
    commit = "0123456789abcdef0123456789abcdef01234567"
    publish.record_sources(p, lambda f: publish.hf_source("me/pub", commit, f))
    m = zoo.get("pub")
    cpu, npu = m.artifact("cpu-int8"), m.artifact("npu")
    assert cpu.sources == [f"hf://me/pub@{commit}/tiny.tflite", server.url("/tiny.tflite"), "https://mirror.invalid/tiny.tflite"]
    assert npu.sources == [f"hf://me/pub@{commit}/tiny_npu.tflite"] and npu.unpublished is None
    assert (npu.size, npu.sha256) == (len(BUILT), hashlib.sha256(BUILT).hexdigest())
    publish.record_sources(publish.plan("pub", from_dir=tmp_path / "out", repo="me/pub"),
                           lambda f: publish.hf_source("me/pub", "f" * 40, f))
    assert zoo.get("pub").artifact("npu").sources == [f"hf://me/pub@{'f' * 40}/tiny_npu.tflite"]
    assert "unpublished" not in path.read_text().split("id: npu")[1]


def test_static_mirror_served_over_http_resolves_end_to_end(zoo_env, server, tmp_path, monkeypatch):
    from loopback import StaticServer

    built_model(zoo_env, server, tmp_path / "out")
    p = publish.plan("pub", from_dir=tmp_path / "out")
    index = json.loads(publish.to_directory(p, tmp_path / "mirror").read_text())
    assert {(e["artifact"], e["file"], e["size"]) for e in index["files"]} == {
        ("cpu-int8", "pub/tiny.tflite", len(DATA)), ("npu", "pub/tiny_npu.tflite", len(BUILT))}
    with StaticServer(tmp_path / "mirror") as mirror:
        requests_before = len(server.requests)
        monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "fresh-cache"))
        monkeypatch.setenv("ZOO_MIRRORS", mirror.base)
        assert zoo.resolve("pub", target="cpu").path.read_bytes() == DATA
        assert len(server.requests) == requests_before, "the mirror prefix is tried before the manifest's sources"
        monkeypatch.delenv("ZOO_MIRRORS")
        publish.record_sources(p, lambda f: f"{mirror.base}/pub/{f}")
        monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "fresh-cache-2"))
        assert zoo.resolve("pub", target="imx8mp").path.read_bytes() == BUILT


def test_bundle_round_trip_then_offline(zoo_env, server, tmp_path, monkeypatch):
    write_model(zoo_env, "b", [pinned(DATA, sources=[server.add("/b.tflite", DATA)])])
    index = bundle.create("b", tmp_path / "b.tar")
    assert [f["sha256"] for f in index["files"]] == [hashlib.sha256(DATA).hexdigest()]
    with tarfile.open(tmp_path / "b.tar") as tar:
        assert {"bundle.json", "SHA256SUMS", "manifests/b.yaml", "LICENSE"} <= set(tar.getnames())
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "device-cache"))
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    (installed,) = bundle.install(tmp_path / "b.tar", manifests_dir=tmp_path / "device-manifests")
    assert installed.path.read_bytes() == DATA
    assert (tmp_path / "device-manifests" / "b.yaml").is_file()
    assert zoo.resolve("b", target="cpu").path == installed.path


def rewrite(src, dst, change):
    with tarfile.open(src) as tin, tarfile.open(dst, "w") as tout:
        for m in tin.getmembers():
            data = tin.extractfile(m).read()
            data = change(m.name, data)
            m.size = len(data)
            tout.addfile(m, io.BytesIO(data))


@pytest.mark.parametrize("damage", ["tamper", "truncate", "slip"])
def test_damaged_bundles_are_refused_and_nothing_installed(zoo_env, server, tmp_path, monkeypatch, damage):
    write_model(zoo_env, "b", [pinned(DATA, sources=[server.add("/b.tflite", DATA)])])
    bundle.create("b", tmp_path / "b.tar")
    bad = tmp_path / "bad.tar"
    if damage == "tamper":
        rewrite(tmp_path / "b.tar", bad, lambda n, d: d[:-1] + bytes([d[-1] ^ 1]) if n.startswith("files/") else d)
    elif damage == "truncate":
        bad.write_bytes((tmp_path / "b.tar").read_bytes()[:30_000])
    else:
        rewrite(tmp_path / "b.tar", bad, lambda n, d: d)
        with tarfile.open(bad, "a") as tar:
            info = tarfile.TarInfo("../outside")
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "device-cache"))
    with pytest.raises(bundle.BadBundle, match="nothing was installed|refusing"):
        bundle.install(bad)
    cache = tmp_path / "device-cache"
    assert not (cache / "blobs").exists() and not (cache / "models").exists()
    leftovers = list((cache / "tmp").glob("*")) if (cache / "tmp").exists() else []
    assert leftovers == []


def test_cli_publish_to_folder_and_bundle_import(zoo_env, server, tmp_path):
    write_model(zoo_env, "b", [pinned(DATA, sources=[server.add("/b.tflite", DATA)])])
    run = lambda *a: subprocess.run([sys.executable, "-m", "zoo", *a], capture_output=True, text=True, env=os.environ)  # noqa: E731
    out = run("publish", "b", "--to", str(tmp_path / "mirror"))
    assert out.returncode == 0 and out.stdout.strip() == str(tmp_path / "mirror" / "index.json")
    assert (tmp_path / "mirror" / "b" / "tiny.tflite").read_bytes() == DATA
    assert run("publish", "b").returncode == 2
    assert run("bundle", "b", "-o", str(tmp_path / "b.tar")).returncode == 0
    imported = run("import", str(tmp_path / "b.tar"), "--json")
    assert imported.returncode == 0 and json.loads(imported.stdout)[0]["sha256"] == hashlib.sha256(DATA).hexdigest()


def test_a_password_in_the_mirror_url_is_never_recorded(zoo_env, server, tmp_path):
    import subprocess
    import sys

    path = write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    before = path.read_bytes()
    proc = subprocess.run([sys.executable, "-m", "zoo", "publish", "m", "--to", str(tmp_path / "mirror"), "--url",
                           "https://alice:hunter2@mirror.example/zoo", "--record"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "hunter2" not in proc.stdout + proc.stderr
    assert proc.stderr.splitlines() == [
        "error: --url carries a user name or password, which zoo never records into a manifest (give the URL without "
        "them and put the credentials in ~/.netrc (machine HOST login USER password PASSWORD), which zoo's downloads "
        "use for that host only)"]
    assert path.read_bytes() == before and not (tmp_path / "mirror").exists()
    proc = subprocess.run([sys.executable, "-m", "zoo", "publish", "m", "--to", str(tmp_path / "mirror"), "--url",
                           "https://mirror.example/zoo", "--record"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f"recorded the new source in {path}" in proc.stderr
    assert yaml.safe_load(path.read_text())["artifacts"][0]["sources"][0] == "https://mirror.example/zoo/m/tiny.tflite"


def test_publish_without_network_suggests_what_publish_has(zoo_env, tmp_path):
    """The file to publish is not cached and its source refuses: the hint names ZOO_OFFLINE (which publish obeys), not a
    --offline flag publish does not have."""
    write_model(zoo_env, "m", [{}])  # MINIMAL's artifact: served by http://127.0.0.1:1, which refuses
    proc = subprocess.run([sys.executable, "-m", "zoo", "publish", "m", "--to", str(tmp_path / "out")], capture_output=True,
                          text=True, env=os.environ, timeout=120)
    assert proc.returncode == 1 and "127.0.0.1:1 refused the connection" in proc.stderr
    assert "ZOO_OFFLINE=1" in proc.stderr and "use --offline" not in proc.stderr
    assert subprocess.run([sys.executable, "-m", "zoo", "publish", "m", "--to", str(tmp_path / "out"), "--offline"],
                          capture_output=True, text=True, env=os.environ, timeout=120).returncode == 2
