"""The i.MX 8M Plus: NXP's VX delegate rules as a report, the lossless rewrite of Google's files, and the artifacts it
makes fetched, built, checked, published and chosen like any other. No i.MX 8M Plus board ran here: the report
applies the delegate's published rules (nxp-imx/tflite-vx-delegate-imx op_map.cc), and LiteRT on the CPU runs the
rewritten files."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile

import numpy as np
import pytest
import yaml

pytest.importorskip("ai_edge_litert", reason="the run extra (ai-edge-litert) is not installed")

import zoo  # noqa: E402
from zoo import catalog  # noqa: E402
from zoo.convert.compilers import vx  # noqa: E402
from zoo.tflite import OpInfo, TensorInfo, inspect  # noqa: E402

DM05 = "deeplabv3_mnv2_dm05_pascal_quant.tflite"


def pins() -> dict:
    """deeplabv3's pinned files the NPUs need, by target."""
    return {t: catalog.load(extra=[]).get("deeplabv3").artifact(t) for t in ("imx93", "imx8mp")}


def zoo_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **env})


def test_googles_files_delegate_everything_but_the_final_arg_max(coral, coral_tasks):
    r = vx.report(coral / DM05)
    assert (r.operators, r.npu_ops, r.partitions, r.per_channel, r.int64_tensors) == (72, 71, 1, 0, 1)
    assert r.cpu_operators == [{"op": "ARG_MAX", "output": "ArgMax", "reason": "int64 output"}]
    tpu = vx.report(coral / "deeplabv3_mnv2_dm05_pascal_quant_edgetpu.tflite")
    assert {o["op"] for o in tpu.cpu_operators} == {"edgetpu-custom-op", "ARG_MAX"}
    assert "custom operator 'edgetpu-custom-op' is not the delegate's" in {o["reason"] for o in tpu.cpu_operators}
    movenet = vx.report(coral_tasks / "movenet_single_pose_lightning_ptq.tflite")
    assert movenet.per_channel > 100 and {"CAST", "DIV", "SQRT"} <= set(movenet.float_ops)  # why it has no imx8mp file
    proc = zoo_cli("inspect", str(coral / DM05), "-t", "imx8mp", "--json")
    assert json.loads(proc.stdout)["npu"]["cpu_operators"][0]["reason"] == "int64 output"


def t(dtype: str, shape=(1, 8, 8, 3), scale=(0.5,), constant=False, signature=()) -> TensorInfo:
    return TensorInfo("t", dtype, list(shape), list(scale), [0] * len(scale), constant, list(signature))


@pytest.mark.parametrize(("name", "ins", "outs", "reason"), [
    ("CONV_2D", [t("uint8"), t("uint8", constant=True)], [t("uint8")], None),
    ("CONV_2D", [t("float32"), t("int8", constant=True)], [t("float32")], "hybrid: input and weights of different types (a dynamic-range model)"),
    ("DEQUANTIZE", [t("int8", scale=(0.1, 0.2))], [t("float32", scale=())], "per-channel int8/uint8 input to a float32 output"),
    ("DEQUANTIZE", [t("float16", scale=())], [t("float32", scale=())], None),
    ("QUANTIZE", [t("float32", scale=())], [t("int8", scale=(0.1, 0.2))], "float32 input to a per-channel int8/uint8 output"),
    ("RESIZE_BILINEAR", [t("uint8"), t("int32", (2,), (), constant=False)], [t("uint8")], "its size is not a constant"),
    ("RESIZE_BILINEAR", [t("uint8", scale=()), t("int32", (2,), (), constant=True)], [t("uint8")], "an 8-bit input without quantization"),
    ("RESHAPE", [t("uint8", signature=(1, -1, 8, 3)), t("int32", (4,), (), constant=True)], [t("uint8")], "a dynamic shape"),
    ("ARG_MAX", [t("uint8"), t("int32", (1,), (), constant=True)], [t("int64", (1, 8, 8), ())], "int64 output"),
    ("ADD", [t("int64"), t("int64")], [t("int64")], "int64 input"),
    ("TILE", [t("uint8")], [t("uint8")], "unsupported operator"),
    ("DENSIFY", [t("float16", scale=())], [t("float16", scale=())], "unsupported operator"),
    ("Convolution2DTransposeBias", [t("float32", scale=())], [t("float32", scale=())],
     "custom operator 'Convolution2DTransposeBias' is not the delegate's"),
])
def test_each_rule_of_the_delegate(name, ins, outs, reason):
    tensors = [*ins, *outs]
    op = OpInfo(name, [x.dtype for x in ins], [x.dtype for x in outs], list(range(len(ins))),
                list(range(len(ins), len(tensors))))
    assert vx.rejection(op, tensors) == reason


def test_the_rewrite_is_lossless_and_reproducible(coral, coral_tasks, tmp_path):
    """Fed the same quantized input, the rewritten DeepLab's class decision is Google's on every pixel; the classifier's
    scores are Google's exactly. Two rewrites give the same bytes."""
    from PIL import Image

    from zoo.litert import allocated

    a, b = vx.compile(coral / DM05, tmp_path / "a"), vx.compile(coral / DM05, tmp_path / "b")
    assert a.path.read_bytes() == b.path.read_bytes() and not a.failed
    info = inspect(a.path)
    assert [(x.dtype, x.shape) for x in (*info.inputs, *info.outputs)] == [("float32", [1, 513, 513, 3]),
                                                                         ("float32", [1, 513, 513, 21])]
    pixels = np.asarray(Image.open(coral / "bird_segmentation.bmp").convert("RGB"))
    google, ours = allocated(coral / DM05), allocated(a.path)
    google.set_tensor(google.get_input_details()[0]["index"], pixels[None])
    ours.set_tensor(ours.get_input_details()[0]["index"], ((pixels.astype(np.float32) - 128) / 128)[None])
    google.invoke(), ours.invoke()
    classes = google.get_tensor(google.get_output_details()[0]["index"])[0]
    logits = ours.get_tensor(ours.get_output_details()[0]["index"])[0]
    assert np.array_equal(classes, logits.argmax(-1))
    v1 = coral_tasks / "mobilenet_v1_0.5_160_quant.tflite"
    c = vx.compile(v1, tmp_path / "c")
    cat = np.asarray(Image.open(coral_tasks / "cat.bmp").convert("RGB").resize((160, 160)))
    google, ours = allocated(v1), allocated(c.path)
    google.set_tensor(google.get_input_details()[0]["index"], cat[None])
    ours.set_tensor(ours.get_input_details()[0]["index"], ((cat.astype(np.float32) - 128) / 128)[None])
    google.invoke(), ours.invoke()
    assert np.array_equal(google.get_tensor(google.get_output_details()[0]["index"])[0] / 256,
                          ours.get_tensor(ours.get_output_details()[0]["index"])[0])


@pytest.mark.parametrize("name", ["deeplabv3", "deeplabv3-dm1", "mobilenet-v1-0.5-160", "mobilenet-v2"])
def test_the_pins_are_what_the_rewrite_of_googles_file_gives(real_file, name, tmp_path):
    m = catalog.load(extra=[]).get(name)
    a = m.artifact("imx8mp")
    compiled = vx.compile(real_file(m.artifact(a.parent).file), tmp_path)
    data = compiled.path.read_bytes()
    assert (len(data), hashlib.sha256(data).hexdigest()) == (a.size, a.sha256) and compiled.path.name == a.file
    assert compiled.report == a.compile_stats and [c.name for c in compiled.checks if c.passed] == [
        "npu-ops", "partitions", "per-tensor", "no-int64", "integer-only"]


@pytest.fixture
def real_file(coral, coral_tasks):
    return lambda file: (coral if (coral / file).is_file() else coral_tasks) / file


def test_fetch_imx8mp_from_googles_files_alone_then_offline_check_publish_and_bundle(shared_mirror, coral, tmp_path):
    """The issue's whole walk: a fresh cache and a mirror of Google's files; the i.MX 8M Plus file is derived, matches
    its pin and hits offline; `zoo build --check` reproduces it; the cached imx93 and imx8mp files publish to a mirror
    folder and a registry, and bundle."""
    from loopback import StaticServer
    from registry import BINARY, Registry

    proc = zoo_cli("fetch", "deeplabv3", "--target", "imx8mp", "--json")
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    pinned = catalog.load(extra=[]).get("deeplabv3").artifact("imx8mp")
    assert (got["target"], got["artifact"], got["sha256"]) == ("imx8mp", "imx8mp", pinned.sha256)
    assert "built deeplabv3_mnv2_dm05_pascal_quant_imx8mp.tflite here from cpu-uint8" in proc.stderr
    report = vx.report(got["path"])
    assert (report.cpu_ops, report.partitions, report.per_channel, report.int64_tensors) == (0, 1, 0, 0)
    offline = zoo_cli("fetch", "deeplabv3", "--target", "imx8mp", "--offline")
    assert offline.returncode == 0 and offline.stdout.strip() == got["path"]
    check = zoo_cli("build", "deeplabv3", "--target", "imx8mp", "--check", "--out", str(tmp_path / "check"))
    assert check.returncode == 0 and "same-bytes: ok (identical bytes to the pinned file)" in check.stdout, check.stderr
    assert zoo_cli("fetch", "deeplabv3", "--target", "imx93").returncode == 0  # Vela, built into the cache
    folder = zoo_cli("publish", "deeplabv3", "--to", str(tmp_path / "mirror"), "-t", "imx93", "-t", "imx8mp")
    assert folder.returncode == 0, folder.stderr
    index = json.loads((tmp_path / "mirror" / "index.json").read_text())
    assert {e["artifact"] for e in index["files"]} == {"imx93", "imx8mp"}
    with StaticServer(tmp_path / "mirror") as served:
        fetched_without_compilers(served.base, tmp_path / "device")
        assert sorted(served.requests) == sorted(f"/deeplabv3/{a.file}" for a in pins().values())  # nothing else asked
    bundled = zoo_cli("bundle", "deeplabv3", "-o", str(tmp_path / "d.tar"), "-t", "imx8mp", "-t", "imx93")
    assert bundled.returncode == 0, bundled.stderr
    with tarfile.open(tmp_path / "d.tar") as tar:
        assert f"files/{pinned.sha256}" in tar.getnames()
    if BINARY is None:
        pytest.skip("docker-registry is not installed (apt-get install docker-registry apache2-utils)")
    with Registry(tmp_path / "reg") as reg:
        pushed = zoo_cli("publish", "deeplabv3", "--oci", f"{reg.address}/zoo/deeplabv3", "-t", "imx8mp", "-t", "imx93",
                         "--json")
        assert pushed.returncode == 0, pushed.stderr
        assert {p["tag"] for p in json.loads(pushed.stdout)["oci"]} == {"imx8mp", "imx93"}
        fetched_without_compilers(f"oci://{reg.address}/zoo", tmp_path / "device-oci")


def fetched_without_compilers(mirrors: str, cache) -> None:
    """A device that may not build (ZOO_BUILD_ON_FETCH=0, as without Vela and LiteRT's tools) fetches deeplabv3's
    imx93 and imx8mp files from `mirrors` alone into an empty cache: the pinned bytes, no build, no fallback."""
    for target, a in pins().items():
        proc = zoo_cli("fetch", "deeplabv3", "--target", target, "--strict", "--json", ZOO_MIRRORS=mirrors,
                       ZOO_CACHE_DIR=str(cache), ZOO_BUILD_ON_FETCH="0")
        assert proc.returncode == 0, proc.stderr
        assert "built " not in proc.stderr and "instead" not in proc.stderr, proc.stderr
        got = json.loads(proc.stdout)
        assert (got["artifact"], got["target"], got["sha256"]) == (a.id, target, a.sha256)
        assert hashlib.sha256(open(got["path"], "rb").read()).hexdigest() == a.sha256


def npu_file_on_the_cpu(name: str):
    """The model's i.MX 8M Plus file, run by LiteRT on this machine's CPU (no VX delegate here)."""
    from zoo.litert import allocated
    from zoo.runtime import Opened

    r = zoo.resolve(name, target="imx8mp")
    return zoo.Model(Opened(allocated(r.path), r.path, "imx8mp", None, r.manifest, r.artifact))


def test_the_class_decision_after_the_npu_agrees_with_googles_file(shared_mirror, coral, coral_tasks):
    """DeepLab: at least 99% of the bird photo's pixels as Google's cpu-uint8 decides them (measured here: all of
    them, as both are fed the same quantized input); the classifiers: the same top-1 on upstream's cat."""
    for name in ("deeplabv3", "deeplabv3-dm1"):
        google = zoo.load(name, target="cpu").predict(coral / "bird.bmp").mask
        assert (npu_file_on_the_cpu(name).predict(coral / "bird.bmp").mask == google).mean() >= 0.99
    for name in ("mobilenet-v1-0.5-160", "mobilenet-v2"):
        best = npu_file_on_the_cpu(name).predict(coral_tasks / "cat.bmp").classes[0]
        assert best.id == zoo.load(name, target="cpu").predict(coral_tasks / "cat.bmp").classes[0].id == 286


def fake_imx8mp(root):
    (root / "sys/devices/soc0").mkdir(parents=True)
    (root / "sys/devices/soc0/soc_id").write_text("i.MX8MP\n")
    (root / "proc/device-tree").mkdir(parents=True)
    (root / "proc/device-tree/model").write_bytes(b"NXP i.MX8MPlus EVK board\x00")
    (root / "usr/lib").mkdir(parents=True)
    (root / "usr/lib/libvx_delegate.so").write_bytes(b"")
    return root


def test_auto_on_an_imx8mp_chooses_by_measured_latency_and_says_why(shared_mirror, tmp_path, monkeypatch):
    root = fake_imx8mp(tmp_path / "board")
    mine = tmp_path / "manifests"  # the records land in a copy, never in this checkout's own manifests
    mine.mkdir()
    (mine / "deeplabv3.yaml").write_bytes((catalog.bundled_dir() / "deeplabv3.yaml").read_bytes())
    monkeypatch.setenv("ZOO_MANIFESTS", str(mine))
    with _no_warning():
        r = zoo.resolve("deeplabv3", root=root)
    assert (r.target, r.artifact.id) == ("imx8mp", "imx8mp")
    device = "NXP i.MX8MPlus EVK board (i.MX8MP)"
    assert zoo.detect(root).device == device
    from zoo.manifest_edit import append_measured

    for artifact, ms in (("cpu-uint8", 447.0), ("imx8mp", 586.0)):  # as `zoo bench -t T --record` writes them there
        append_measured("deeplabv3", "benchmarks", {
            "device": device, "accelerator": "x", "runtime": "ai-edge-litert 2.3.0", "input_size": [513, 513],
            "latency_ms": ms, "applies_to": artifact, "source": "measured", "command": "zoo bench --record",
            "date": "2026-11-30"})
    assert len(yaml.safe_load((mine / "deeplabv3.yaml").read_text())["benchmarks"]) > len(
        yaml.safe_load((catalog.bundled_dir() / "deeplabv3.yaml").read_text())["benchmarks"])
    with pytest.warns(zoo.ZooWarning) as caught:
        r = zoo.resolve("deeplabv3", root=root)
    assert (r.target, r.artifact.id) == ("cpu", "cpu-uint8")
    why = "the latencies measured on this device put cpu first (cpu 447 ms, imx8mp 586 ms)"
    assert [str(w.message) for w in caught if "overrides" not in str(w.message)] == [
        f"found the NXP i.MX 8M Plus NPU, but {why}; using the cpu artifact 'cpu-uint8'"]
    assert r.explanation[-1] == f"'cpu' chosen by latency: {why}"


def test_auto_on_an_imx8mp_without_its_file_warns_when_it_falls_back(shared_mirror, tmp_path, monkeypatch):
    root = fake_imx8mp(tmp_path / "board")
    monkeypatch.setenv("ZOO_BUILD_ON_FETCH", "0")
    with pytest.warns(zoo.ZooWarning) as caught:
        r = zoo.resolve("deeplabv3", root=root)
    assert r.target == "cpu"
    asked = f"{shared_mirror.base}/deeplabv3/deeplabv3_mnv2_dm05_pascal_quant_imx8mp.tflite"  # a mirror without it
    assert [str(w.message) for w in caught] == [
        f"could not fetch deeplabv3/imx8mp (deeplabv3_mnv2_dm05_pascal_quant_imx8mp.tflite): {asked}: HTTP 404 File not "
        f"found from {asked}; choosing without it",
        "found the NXP i.MX 8M Plus NPU, but deeplabv3's imx8mp file 'imx8mp' is not built here from 'cpu-uint8' on a "
        "fetch, as ZOO_BUILD_ON_FETCH=0 (`zoo fetch deeplabv3/imx8mp --build` builds it once); using the cpu artifact "
        "'cpu-uint8'"]


class _no_warning:
    def __enter__(self):
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("error", zoo.ZooWarning)

    def __exit__(self, *exc):
        self._catch.__exit__(*exc)


def test_movenet_says_why_it_has_no_imx8mp_file():
    text = (catalog.bundled_dir() / "movenet-lightning.yaml").read_text()
    assert "No imx8mp artifact" in text
    assert "imx8mp" not in {a["target"] for a in yaml.safe_load(text)["artifacts"]}
