"""`zoo build` end to end on small models the tests make: upstream served on loopback, real TensorFlow
conversion, int8 with float I/O checked by LiteRT inference, inspect, build record and manifest --record.

One session-scoped build per converted model keeps the TensorFlow time small.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import MINIMAL

tf = pytest.importorskip("tensorflow", reason="the build extra (tensorflow-cpu) is not installed")
lite = pytest.importorskip("ai_edge_litert.interpreter", reason="the run extra (ai-edge-litert) is not installed")

from zoo import catalog  # noqa: E402
from zoo.convert import runner  # noqa: E402
from zoo.tflite import inspect  # noqa: E402
from zoo.convert.recipes import recipe_module  # noqa: E402
from zoo.convert.runner import BuildFailed, Options  # noqa: E402

LABELS = [f"class{i}" for i in range(21)]
SIZE = 33


def frozen_graph() -> bytes:
    """A stand-in shaped like the TF model zoo's DeepLab exports (deeplab/export_model.py and model.py's
    predict_labels): uint8 `ImageTensor` -> cast and scale to `sub_7` = pixel / 127.5 - 1 -> convolutions -> logits
    at logits resolution (stride 2 here), resized to that resolution (`ResizeBilinear_2`), then to the input size
    (`ResizeBilinear_3`) -> `ArgMax`. The recipe must find sub_7 and ResizeBilinear_3 by structure."""
    rng = np.random.default_rng(0)
    g = tf.Graph()
    with g.as_default():
        image = tf.compat.v1.placeholder(tf.uint8, [1, SIZE, SIZE, 3], name="ImageTensor")
        x = tf.subtract(tf.cast(image, tf.float32) / 127.5, 1.0, name="sub_7")
        h = tf.nn.relu6(tf.nn.conv2d(x, tf.constant(rng.normal(0, 1, (3, 3, 3, 16)).astype(np.float32)), 2, "SAME"))
        logits = tf.nn.conv2d(h, tf.constant(rng.normal(0, 1, (1, 1, 16, 21)).astype(np.float32)), 1, "SAME")
        low = (SIZE + 1) // 2
        logits = tf.compat.v1.image.resize_bilinear(logits, [low, low], align_corners=True, name="ResizeBilinear_2")
        out = tf.compat.v1.image.resize_bilinear(logits, [SIZE, SIZE], align_corners=True, name="ResizeBilinear_3")
        tf.argmax(out, axis=3, name="ArgMax")
    return g.as_graph_def().SerializeToString()


def tarball(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buf.getvalue()


def images(folder: Path, count: int = 6) -> Path:
    """Real image files (smooth colour blocks) for calibration."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for i in range(count):
        blocks = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
        Image.fromarray(blocks).resize((48 + 8 * i, 40), Image.NEAREST).save(folder / f"img{i}.png")
    return folder


def manifest(name: str, size: int, recipe: str, upstream: dict, artifacts: list[dict], output: dict, **build) -> dict:
    data = json.loads(json.dumps(MINIMAL))
    data.update(name=name, head={"labels": LABELS, "ignore_label": 255}, outputs=[output], upstream=[upstream],
                build={"recipe": recipe, "upstream": upstream["id"], **build})
    data["inputs"][0]["shape"] = [1, size, size, 3]
    base = {"format": "tflite", "precision": "int8", "build": True, "parent": upstream["id"], "unpublished": "built by tests"}
    data["artifacts"] = [{**base, **a} for a in artifacts]
    return data


@pytest.fixture(scope="session")
def session_server():
    from loopback import Server

    with Server() as s:
        yield s


@pytest.fixture(scope="session")
def frozen(tmp_path_factory, session_server):
    """The frozen-graph recipe built once: a float-I/O artifact and a uint8-I/O one, recorded into the manifest."""
    root = tmp_path_factory.mktemp("frozen")
    data = tarball({"deeplab_tiny_2018_01_01/frozen_inference_graph.pb": frozen_graph()})
    url = session_server.add("/deeplab_tiny.tar.gz", data)
    up = {"id": "tf-float", "kind": "frozen-graph-tarball", "file": "deeplab_tiny.tar.gz", "sources": [url],
          "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    arts = [{"id": "npu", "target": "imx8mp", "input_dtype": "float32", "output_dtype": "float32", "file": "tiny_npu.tflite",
             "recipe": "zoo build tiny-frozen --target imx8mp"},
            {"id": "cpu-u8", "target": "cpu", "precision": "uint8", "input_dtype": "uint8", "output_dtype": "uint8",
             "file": "tiny_u8.tflite", "recipe": "zoo build tiny-frozen --target cpu"}]
    doc = manifest("tiny-frozen", SIZE, "deeplab_frozen_graph", up, arts, {"shape": [1, SIZE, SIZE, 21], "kind": "logits"},
                   options={"graph": "frozen_inference_graph.pb"},
                   min_agreement=0.85)
    (root / "manifests").mkdir()
    path = root / "manifests" / "tiny-frozen.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    before = path.read_text()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ZOO_MANIFESTS", str(root / "manifests"))
        mp.setenv("ZOO_CACHE_DIR", str(root / "cache"))
        results = runner.build("tiny-frozen", Options(out=root / "out", calibration=str(images(root / "calib")), record=True))
        after = catalog.get("tiny-frozen")
    return {"root": root, "results": {r.artifact.id: r for r in results}, "manifest": path, "before": before,
            "after": after, "upstream_sha256": up["sha256"], "requests": list(session_server.requests)}


def run_model(path: Path, x: np.ndarray) -> np.ndarray:
    it = lite.Interpreter(model_path=str(path))
    it.allocate_tensors()
    d = it.get_input_details()[0]
    it.set_tensor(d["index"], x)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])


def test_frozen_graph_builds_int8_with_float_io(frozen):
    r = frozen["results"]["npu"]
    info = inspect(r.path)
    assert [(t.dtype, t.shape) for t in info.inputs] == [("float32", [1, SIZE, SIZE, 3])]
    assert [(t.dtype, t.shape) for t in info.outputs] == [("float32", [1, SIZE, SIZE, 21])]
    assert info.float_ops == [] and {"QUANTIZE", "DEQUANTIZE"} <= set(info.histogram)
    assert all(c.passed for c in r.checks) and [c.name for c in r.checks] == ["io", "integer-only", "agreement"]
    y = run_model(r.path, np.zeros((1, SIZE, SIZE, 3), np.float32))
    assert y.shape == (1, SIZE, SIZE, 21) and y.dtype == np.float32 and np.isfinite(y).all()
    assert r.sha256 == hashlib.sha256(r.path.read_bytes()).hexdigest() and r.size == r.path.stat().st_size


def test_uint8_io_variant_takes_quantized_input(frozen):
    r = frozen["results"]["cpu-u8"]
    (i,), (o,) = inspect(r.path).inputs, inspect(r.path).outputs
    assert (i.dtype, o.dtype) == ("uint8", "uint8") and i.scale and o.scale
    assert run_model(r.path, np.full((1, SIZE, SIZE, 3), 128, np.uint8)).dtype == np.uint8


def test_build_record_says_how_it_was_made(frozen):
    r = frozen["results"]["npu"]
    rec = json.loads(r.record_path.read_text())
    assert rec["sha256"] == r.sha256 and rec["size"] == r.size and rec["smoke"] is False
    assert rec["made_from"]["sha256"] == frozen["upstream_sha256"] and rec["made_from"]["pinned_by"] == "sha256"
    assert rec["calibration"]["count"] == 6 and len(rec["calibration"]["sha256"]) == 64
    assert rec["tool"]["inference_input_type"] == "float32" and rec["tool"]["version"] == tf.__version__
    assert rec["tool"]["name"] == "tensorflow"
    assert rec["recipe"]["name"] == "deeplab_frozen_graph"
    assert (rec["recipe"]["input_tensor"], rec["recipe"]["output_tensor"]) == ("sub_7", "ResizeBilinear_3")
    assert {c["name"] for c in rec["checks"]} == {"io", "integer-only", "agreement"}


def test_upstream_came_from_the_loopback_server(frozen):
    assert [p for p, _ in frozen["requests"]] == ["/deeplab_tiny.tar.gz"]


def test_record_updates_only_the_built_artifacts(frozen):
    after = frozen["after"]
    for aid, r in frozen["results"].items():
        a = after.artifact(aid)
        assert (a.size, a.sha256, a.parent) == (r.size, r.sha256, "tf-float")
    before, now = frozen["before"].splitlines(), frozen["manifest"].read_text().splitlines()
    added = [line for line in now if line not in before]
    assert sorted(line.split(":")[0].strip() for line in added) == ["sha256", "sha256", "size", "size"]
    assert all(line in now for line in before)


def test_inspect_cli_on_a_built_file(frozen):
    from typer.testing import CliRunner

    from zoo.cli import app

    result = CliRunner().invoke(app, ["inspect", str(frozen["results"]["npu"].path), "--json"])
    data = json.loads(result.stdout)
    assert data["accelerator"] is None and data["float_ops"] == [] and data["inputs"][0]["dtype"] == "float32"


@pytest.fixture(scope="session")
def keras_weights(tmp_path_factory):
    """A small coral-deeplab v3 (dm 0.5, 65x65) saved as Keras 2 HDF5 weights, as its author publishes them."""
    cdl = recipe_module("coral_deeplab")
    folder = tmp_path_factory.mktemp("keras")
    tf.keras.utils.set_random_seed(0)
    model = cdl.build_model("v3", depth_multiplier=0.5, input_size=65, classes=21)
    untrained = folder / "tiny_v3_dm05_untrained.h5"
    cdl.save_weights(model, untrained)
    # Spread the class biases so the argmax is decided by a margin wider than int8 noise, as in a trained model.
    logits = model.get_layer("logits-semantic")
    logits.bias.assign(np.linspace(0.0, 20.0, 21, dtype=np.float32))
    good = folder / "tiny_v3_dm05.h5"
    cdl.save_weights(model, good)
    other = folder / "tiny_v3_dm1.h5"
    cdl.save_weights(cdl.build_model("v3", depth_multiplier=1.0, input_size=65, classes=21), other)
    return model, good, other, untrained


def keras_manifest(folder: Path, server, weights: Path, min_agreement: float) -> None:
    data = weights.read_bytes()
    url = server.add(f"/{weights.name}", data)
    up = {"id": "keras-weights", "kind": "keras-h5", "file": weights.name, "sources": [url], "md5": hashlib.md5(data).hexdigest()}
    arts = [{"id": "cpu-int8", "target": "cpu", "input_dtype": "float32", "output_dtype": "float32", "file": "coral_tiny_int8.tflite",
             "recipe": "zoo build coral-tiny --target cpu"}]
    doc = manifest("coral-tiny", 65, "coral_deeplab", up, arts, {"shape": [1, 5, 5, 21], "kind": "logits", "output_stride": 16},
                   options={"version": "v3", "depth_multiplier": 0.5, "output_stride": 16}, min_agreement=min_agreement)
    (folder / "coral-tiny.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def test_keras_recipe_loads_md5_pinned_h5_and_builds(zoo_env, server, keras_weights, tmp_path):
    model, good, _, _ = keras_weights
    keras_manifest(zoo_env, server, good, min_agreement=0.9)
    (r,) = runner.build("coral-tiny", Options(out=tmp_path / "out", calibration="random", samples=4))
    (i,), (o,) = inspect(r.path).inputs, inspect(r.path).outputs
    assert (i.dtype, i.shape, o.dtype, o.shape) == ("float32", [1, 65, 65, 3], "float32", [1, 5, 5, 21])
    assert r.smoke and [c.name for c in r.checks] == ["io", "integer-only", "agreement"] and all(c.passed for c in r.checks)
    rec = json.loads(r.record_path.read_text())
    assert rec["made_from"]["pinned_by"] == "md5" and rec["calibration"]["source"].startswith("random")
    assert rec["recipe"]["parameters"] == model.count_params()


def test_agreement_floor_fails_the_build(zoo_env, server, keras_weights, tmp_path):
    *_, untrained = keras_weights
    keras_manifest(zoo_env, server, untrained, min_agreement=0.9)
    with pytest.raises(BuildFailed, match=r"build step 'check' failed: agreement: 0\.\d+ of pixels agree .* \(floor 0\.9\)"):
        runner.build("coral-tiny", Options(out=tmp_path / "out", calibration="random", samples=2))
    assert not (tmp_path / "out" / "coral_tiny_int8.tflite").exists()


def test_weights_that_do_not_match_are_refused(zoo_env, server, keras_weights, tmp_path):
    _, _, other, _ = keras_weights
    keras_manifest(zoo_env, server, other, min_agreement=0.9)
    with pytest.raises(BuildFailed, match=r"build step 'model' failed: .*does not match coral_deeplab_v3: .*of another shape"):
        runner.build("coral-tiny", Options(out=tmp_path / "out", calibration="random", samples=2))


def test_strict_loader_leaves_the_model_untouched_on_mismatch(keras_weights):
    cdl = recipe_module("coral_deeplab")
    model, _, other, _ = keras_weights
    before = [w.numpy().copy() for w in model.weights]
    with pytest.raises(cdl.WeightsMismatch):
        cdl.load_weights(model, cdl.read_weights(other), other)
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, model.weights))


@pytest.mark.parametrize(("version", "size", "out"), [("v3", 97, 7), ("v3plus", 97, 25), ("v3plus", 65, 17)])
def test_architecture_output_strides(version, size, out):
    model = recipe_module("coral_deeplab").build_model(version, depth_multiplier=0.5, input_size=size, classes=21)
    assert tuple(model.output.shape) == (None, out, out, 21)


def test_check_rebuilds_and_compares_with_the_published_file(frozen, session_server, monkeypatch, tmp_path):
    from zoo.manifest_edit import update_manifest

    built = frozen["results"]["npu"]
    url = session_server.add("/published/tiny_npu.tflite", built.path.read_bytes())
    (tmp_path / "m").mkdir()
    copy = tmp_path / "m" / frozen["manifest"].name
    copy.write_text(frozen["manifest"].read_text())
    update_manifest(copy, artifacts={"npu": {"sources": [url], "unpublished": None}})
    monkeypatch.setenv("ZOO_MANIFESTS", str(copy.parent))
    monkeypatch.setenv("ZOO_CACHE_DIR", str(frozen["root"] / "cache"))
    (r,) = runner.build("tiny-frozen", Options(targets=["imx8mp"], out=tmp_path / "out",
                                               calibration=str(frozen["root"] / "calib"), check=True))
    names = {c.name: c for c in r.checks}
    assert names["same-io"].passed and names["same-ops"].passed and names["agreement-with-recorded"].passed
    assert r.notes == ["identical bytes to the published file" if r.sha256 == built.sha256
                       else "bytes differ from the published file (converter output is not byte-stable)"]


def test_check_needs_something_published(frozen, monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO_MANIFESTS", str(frozen["manifest"].parent))
    monkeypatch.setenv("ZOO_CACHE_DIR", str(frozen["root"] / "cache"))
    with pytest.raises(BuildFailed, match="build step 'compare' failed: tiny-frozen/cpu-u8 is not published"):
        runner.build("tiny-frozen", Options(targets=["cpu"], out=tmp_path / "out", calibration=str(frozen["root"] / "calib"), check=True))


@pytest.mark.skipif(not __import__("shutil").which("edgetpu_compiler"), reason="edgetpu_compiler is not installed here")
def test_real_edgetpu_compile_of_a_uint8_build(frozen, tmp_path):
    from zoo.convert import edgetpu

    compiled, stats = edgetpu.compile_model(frozen["results"]["cpu-u8"].path, tmp_path, timeout=120)
    assert inspect(compiled).accelerator == "edgetpu"
    assert stats.total_ops == stats.tpu_ops + stats.cpu_ops and stats.compiler_version[0].isdigit()
