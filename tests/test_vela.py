"""i.MX 93 artifacts compiled with the real Vela from Google's real files, pinned, rebuilt and verified like downloads."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml
from conftest import REPO

import zoo
from zoo import catalog
from zoo.convert.compilers import vela
from zoo.tflite import inspect
from zoo.errors import ArtifactUnavailable, ZooError

try:
    VELA = vela.find_compiler()
except ZooError:
    VELA = None
needs_vela = pytest.mark.skipif(VELA is None, reason="vela is not installed (pip install 'edge-model-zoo[imx93]')")
GOOGLE = {"deeplabv3": "deeplabv3_mnv2_dm05_pascal_quant.tflite", "deeplabv3-dm1": "deeplabv3_mnv2_pascal_quant.tflite"}


@pytest.fixture
def mirror(coral, tmp_path, monkeypatch):
    """Google's files served as a ZOO_MIRRORS prefix (<prefix>/<model>/<file>) from a real loopback web server."""
    from loopback import StaticServer

    for model, file in GOOGLE.items():
        (tmp_path / "mirror" / model).mkdir(parents=True)
        shutil.copyfile(coral / file, tmp_path / "mirror" / model / file)
    with StaticServer(tmp_path / "mirror") as server:
        monkeypatch.setenv("ZOO_MIRRORS", server.base)
        monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
        monkeypatch.delenv("ZOO_OFFLINE", raising=False)
        yield server


def zoo_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, timeout=600, env=os.environ)


TASK_MODELS = {"mobilenet-v1-0.5-160": ("mobilenet_v1_0.5_160_quant.tflite", "cpu-uint8", 76_540_114, 0),
               "mobilenet-v2": ("mobilenet_v2_1.0_224_quant.tflite", "cpu-uint8", 300_840_274, 0),
               "movenet-lightning": ("movenet_single_pose_lightning_ptq.tflite", "cpu-int8", 271_900_477, 29)}


@needs_vela
@pytest.mark.parametrize("model", sorted(TASK_MODELS))
def test_the_classifiers_and_movenet_compile_to_their_pins_and_published_macs(coral_tasks, tmp_path, model):
    """Vela on Google's files for the other tasks: the pinned bytes, and MACs within 5% of the 77M and 300M that
    tensorflow/models publishes (MoveNet has no published figure; its decoding stays on the CPU)."""
    file, parent, macs, cpu_ops = TASK_MODELS[model]
    m = catalog.load(extra=[]).get(model)
    a = m.artifact("imx93")
    product, report = vela.compile_model(coral_tasks / file, tmp_path)
    data = product.read_bytes()
    assert (len(data), hashlib.sha256(data).hexdigest()) == (a.size, a.sha256) and a.parent == parent
    assert (report.macs, report.cpu_ops) == (macs, cpu_ops) and report.to_dict() == a.compile_stats
    gates = {c.name: c.passed for c in vela.gates(m, report)}
    assert gates == ({"sram": True, "macs": True} if m.flops else {"sram": True})


@needs_vela
def test_vela_version_is_the_pinned_one():
    pyproject = (REPO / "pyproject.toml").read_text()
    assert f'"ethos-u-vela=={VELA[1]}"' in pyproject


@needs_vela
@pytest.mark.parametrize("model", sorted(GOOGLE))
def test_report_and_bytes_match_the_pins_recorded_from_google_files(coral, tmp_path, model):
    m = catalog.load(extra=[]).get(model)
    a = m.artifact("imx93")
    product, report = vela.compile_model(coral / GOOGLE[model], tmp_path / "a")
    again, _ = vela.compile_model(coral / GOOGLE[model], tmp_path / "b")
    data = product.read_bytes()
    assert data == again.read_bytes(), "Vela's output must be byte-identical from run to run"
    assert (len(data), hashlib.sha256(data).hexdigest()) == (a.size, a.sha256)
    assert report.macs == {"deeplabv3": 879_288_864, "deeplabv3-dm1": 2_752_675_456}[model]  # the published 0.88B / 2.75B
    assert report.options == vela.OPTIONS and report.vela_version == VELA[1]
    assert [(o["op"], o["reason"]) for o in report.cpu_operators] == [
        ("RESIZE_BILINEAR", "Scaling matches and operation has unsupported scale-factor=16")]
    assert report.cpu_ops == 1 and report.sram_used_bytes <= report.arena_cache_bytes == 384 * 1024
    assert report.to_dict() == a.compile_stats
    info = inspect(product)
    assert info.accelerator == "imx93" and info.cpu_ops == ["RESIZE_BILINEAR"]
    assert [c.name for c in vela.gates(m, report) if c.passed] == ["sram", "cpu-ops", "macs"]


def test_gates_catch_a_mac_count_far_from_the_manifest_and_sram_over_the_arena():
    m = catalog.load(extra=[]).get("deeplabv3")
    report = vela.VelaReport("5.2.0", vela.OPTIONS, npu_ops=1, cpu_ops=3, sram_used_bytes=400_000, arena_cache_bytes=393_216,
                             macs=700_000_000)
    failed = {c.name: c.detail for c in vela.gates(m, report) if not c.passed}
    assert set(failed) == {"sram", "cpu-ops", "macs"}
    assert failed["macs"].endswith("(20.45% apart, tolerance 5%)")


@needs_vela
def test_build_from_a_fresh_cache_reproduces_the_pin_and_check_says_identical(mirror, tmp_path):
    proc = zoo_cli("build", "deeplabv3", "--target", "imx93", "--out", str(tmp_path / "out"), "--json")
    assert proc.returncode == 0, proc.stderr
    (built,) = json.loads(proc.stdout)
    pinned = catalog.load(extra=[]).get("deeplabv3").artifact("imx93")
    assert built["sha256"] == pinned.sha256 and built["compile_stats"]["macs"] == 879_288_864
    rec = json.loads((tmp_path / "out" / f"{pinned.file}.build.json").read_text())
    assert rec["compile"]["options"] == vela.OPTIONS and rec["made_from"]["sha256"] == catalog.load(extra=[]).get(
        "deeplabv3").artifact("cpu-uint8").sha256
    check = zoo_cli("build", "deeplabv3", "--target", "imx93", "--check", "--out", str(tmp_path / "check"))
    assert check.returncode == 0 and "same-bytes: ok (identical bytes to the pinned file)" in check.stdout
    # what Vela built publishes like anything else: the same record shape as a TensorFlow build
    published = zoo_cli("publish", "deeplabv3", "--target", "imx93", "--from", str(tmp_path / "out"), "--to",
                        str(tmp_path / "mirror"))
    assert published.returncode == 0, published.stderr
    assert (tmp_path / "mirror" / "deeplabv3" / pinned.file).read_bytes() == (tmp_path / "out" / pinned.file).read_bytes()
    card = zoo_cli("publish", "deeplabv3", "--target", "imx93", "--from", str(tmp_path / "out"), "--repo", "me/deeplabv3",
                   "--dry-run")
    assert card.returncode == 0, card.stderr
    assert "- **imx93** (parent: cpu-uint8): `zoo build deeplabv3 --target imx93`; build record: vela 5.2.0, checks: sram ok, " \
           "cpu-ops ok, macs ok" in card.stdout


@needs_vela
def test_a_plain_fetch_builds_the_pinned_file_then_offline_hits(mirror, monkeypatch):
    """With Vela installed a plain fetch compiles the pinned file from its verified parent (no --build needed); a
    device that must never compile says ZOO_BUILD_ON_FETCH=0 and gets the way to do it instead."""
    monkeypatch.setenv("ZOO_BUILD_ON_FETCH", "0")
    plain = zoo_cli("fetch", "deeplabv3", "--target", "imx93", "--strict")
    assert plain.returncode == 1 and "extra" not in plain.stderr
    assert ("is not built here from 'cpu-uint8' on a fetch, as ZOO_BUILD_ON_FETCH=0 (`zoo fetch deeplabv3/"
            in plain.stderr)
    monkeypatch.delenv("ZOO_BUILD_ON_FETCH")
    built = zoo_cli("fetch", "deeplabv3", "--target", "imx93")
    assert built.returncode == 0, built.stderr
    assert "built deeplabv3_mnv2_dm05_pascal_quant_vela.tflite here from cpu-uint8 and verified it against its pin" in built.stderr
    path = built.stdout.strip().splitlines()[-1]
    assert hashlib.sha256(open(path, "rb").read()).hexdigest() == catalog.load(extra=[]).get("deeplabv3").artifact("imx93").sha256
    offline = zoo_cli("fetch", "deeplabv3", "--target", "imx93", "--offline")
    assert offline.returncode == 0 and offline.stdout.strip() == path


def own_manifest(folder, coral, pin: str) -> None:
    """A user's own model: Google's dm0.5 file as its published cpu artifact, and an imx93 artifact pinned by `pin`."""
    data = (coral / GOOGLE["deeplabv3"]).read_bytes()
    doc = copy.deepcopy(yaml.safe_load((REPO / "manifests" / "deeplabv3.yaml").read_text()))
    doc.update(name="mine", aliases=[], benchmarks=[], metrics=[])
    doc.pop("build")
    cpu = next(a for a in doc["artifacts"] if a["id"] == "cpu-uint8")
    imx93 = next(a for a in doc["artifacts"] if a["id"] == "imx93")
    imx93.update(sha256=pin, recipe="zoo build mine --target imx93")
    imx93.pop("compile_stats")
    cpu["sources"] = ["http://127.0.0.1:9/unreachable.tflite"]
    doc["artifacts"] = [cpu, imx93]
    (folder / "mine.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    assert len(data) == cpu["size"]


@needs_vela
def test_own_manifest_builds_the_same_way_and_a_wrong_pin_is_refused(mirror, coral, tmp_path, monkeypatch):
    mine = tmp_path / "mine"
    mine.mkdir()
    monkeypatch.setenv("ZOO_MANIFESTS", str(mine))
    (tmp_path / "mirror" / "mine").mkdir()
    shutil.copyfile(coral / GOOGLE["deeplabv3"], tmp_path / "mirror" / "mine" / GOOGLE["deeplabv3"])
    own_manifest(mine, coral, "0" * 64)
    with pytest.raises(ZooError, match="build step 'verify' failed: sha256 mismatch"):
        zoo.resolve("mine", target="imx93", build=True)
    assert not list((tmp_path / "cache" / "models").glob("mine/imx93/*"))
    own_manifest(mine, coral, catalog.load(extra=[]).get("deeplabv3").artifact("imx93").sha256)
    r = zoo.resolve("mine", target="imx93", build=True)
    assert r.artifact.id == "imx93" and r.path.name == "deeplabv3_mnv2_dm05_pascal_quant_vela.tflite"


def test_without_build_an_unpublished_rebuildable_artifact_says_how(monkeypatch):
    from zoo.choice import choose

    m = catalog.load(extra=[]).get("deeplabv3")
    with pytest.raises(ArtifactUnavailable, match="deeplabv3's imx93 file 'imx93' is built here from 'cpu-uint8' once the "
                                                  "imx93 extra is installed \\(pip install '\\.\\[imx93\\]' in zoo's checkout"):
        choose(m, "imx93", [], strict=True)
    assert choose(m, "imx93", [], rebuilt=frozenset({"imx93"})).artifact.id == "imx93"
    assert choose(m, "auto", ["imx93"]).artifact.id == "cpu-uint8"
    assert choose(m, "auto", ["imx93"], rebuilt=frozenset({"imx93"})).artifact.id == "imx93"
