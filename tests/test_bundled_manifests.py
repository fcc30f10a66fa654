"""The real manifests: valid, and every number we can re-measure matches the real files."""

from __future__ import annotations

import hashlib

import pytest

from zoo import catalog

GOOGLE = {
    ("deeplabv3", "cpu-uint8"): "deeplabv3_mnv2_dm05_pascal_quant.tflite",
    ("deeplabv3", "edgetpu"): "deeplabv3_mnv2_dm05_pascal_quant_edgetpu.tflite",
    ("deeplabv3-dm1", "cpu-uint8"): "deeplabv3_mnv2_pascal_quant.tflite",
    ("deeplabv3-dm1", "edgetpu"): "deeplabv3_mnv2_pascal_quant_edgetpu.tflite",
    ("mobilenet-v1-0.5-160", "cpu-uint8"): "mobilenet_v1_0.5_160_quant.tflite",
    ("mobilenet-v1-0.5-160", "edgetpu"): "mobilenet_v1_0.5_160_quant_edgetpu.tflite",
    ("mobilenet-v2", "cpu-uint8"): "mobilenet_v2_1.0_224_quant.tflite",
    ("movenet-lightning", "cpu-int8"): "movenet_single_pose_lightning_ptq.tflite",
    ("movenet-lightning", "edgetpu"): "movenet_single_pose_lightning_ptq_edgetpu.tflite",
}


@pytest.fixture
def real(coral, coral_tasks):
    """The folder holding a Google file by name (DeepLab files in coral/, the others in coral-tasks/)."""
    return lambda file: (coral if (coral / file).is_file() else coral_tasks) / file


@pytest.fixture(scope="module")
def bundled():
    cat = catalog.load(extra=[])
    assert cat.problems == []
    return cat


@pytest.mark.parametrize(("name", "artifact_id"), sorted(GOOGLE))
def test_google_artifacts_match_the_real_files(bundled, real, name, artifact_id):
    a = bundled.get(name).artifact(artifact_id)
    data = real(GOOGLE[name, artifact_id]).read_bytes()
    assert a.file == GOOGLE[name, artifact_id]
    assert a.size == len(data)
    assert a.sha256 == hashlib.sha256(data).hexdigest()
    assert a.sources == [f"https://github.com/google-coral/test_data/raw/master/{a.file}"]


@pytest.mark.parametrize(("name", "artifact_id"), sorted(GOOGLE))
def test_google_artifacts_io_matches_litert(bundled, real, name, artifact_id):
    interpreter = pytest.importorskip("ai_edge_litert.interpreter", reason="the run extra (ai-edge-litert) is not installed")
    m = bundled.get(name)
    a = m.artifact(artifact_id)
    it = interpreter.Interpreter(model_path=str(real(a.file)))
    (inp,), (out,) = it.get_input_details(), it.get_output_details()
    assert inp["dtype"].__name__ == a.input_dtype and list(inp["shape"]) == m.input.shape
    q = a.input_quantization
    assert inp["quantization"] == ((q.scale, q.zero_point) if q else (0.0, 0))
    (spec,) = m.outputs_of(a)
    assert out["dtype"].__name__ == a.output_dtype and list(out["shape"]) == spec.shape
    assert spec.name in (None, out["name"])


def test_labels_are_upstreams_own_files(bundled, coral, coral_tasks):
    import zipfile

    from conftest import SHARED

    lines = (coral / "pascal_voc_segmentation_labels.txt").read_text().splitlines()
    pascal, imagenet = lines[: lines.index("")], (coral_tasks / "imagenet_labels.txt").read_text().splitlines()
    own = {"selfie-segmentation": ["background", "person"], "face-detection-short-range": ["face"],  # one class
           "yolo-face": ["face"], "fastestdet-person": ["person"], "face-detection-full-range": ["face"],
           "selfie-segmentation-landscape": ["background", "person"]}
    for name, member in {"ssd-mobilenet-v1": "labelmap.txt", "mobilenet-v1-0.25-224": "labels.txt",
                         "deeplabv3-257": "labelmap.txt"}.items():  # the label files zipped onto the models
        with zipfile.ZipFile(SHARED / "tflite-support" / bundled.get(name).artifacts[0].file) as z:
            own[name] = z.read(member).decode().splitlines()
    for name in bundled.names():
        m = bundled.get(name)
        want = own.get(name) or {"semantic-segmentation": pascal, "image-classification": imagenet,
                                       "pose-estimation": []}[m.task]
        assert m.labels == want, name


def test_coral_deeplab_files_are_md5_pinned_google_drive_links(bundled):
    for name in ("coral-deeplabv3", "coral-deeplabv3-dm05", "coral-deeplabv3plus", "coral-deeplabv3plus-dm05"):
        m = bundled.get(name)
        tpu, (weights,) = m.artifact("edgetpu"), m.upstream
        for f in (tpu, weights):
            assert f.pin == "md5" and f.size is None
            assert f.sources[0].startswith("https://docs.google.com/uc?export=download&id=")
        assert tpu.parent == "keras-weights" and tpu.delegate == "libedgetpu.so.1"


def test_nxp_latencies_point_at_the_file_nxp_measured(bundled):
    m = bundled.get("deeplabv3")
    nxp = [b for b in m.benchmarks if b.citation and b.citation.startswith("NXP")]
    assert [b.latency_ms for b in nxp] == [1104, 447, 586]
    assert {b.applies_to for b in nxp} == {"nxp-tfhub-int8"}
    up = next(u for u in m.upstream if u.id == "nxp-tfhub-int8")
    assert up.sources == ["https://tfhub.dev/sayakpaul/lite-model/deeplabv3-mobilenetv2_dm05-int8/1/default/2?lite-format=tflite"]


@pytest.mark.parametrize("name", ["deeplabv3", "deeplabv3-dm1"])
def test_imx8mp_artifacts_end_in_the_logits_with_float_io_derived_from_googles_file(bundled, name):
    m = bundled.get(name)
    a = m.artifact("imx8mp")
    (out,) = m.outputs_of(a)
    assert (out.shape, out.kind, out.output_stride) == ([1, 513, 513, 21], "logits", None)
    assert (a.parent, a.input_dtype, a.output_dtype, a.precision, a.build) == ("cpu-uint8", "float32", "float32", "uint8", True)
    assert a.compile_stats["partitions"] == 1 and a.compile_stats["cpu_ops"] == 0 and a.compile_stats["per_channel"] == 0
