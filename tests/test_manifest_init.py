"""`zoo init` on files zoo has never seen: the manifest it writes validates, and fetch and predict work with it
through ZOO_MANIFESTS, from a loopback mirror, through the real command line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import SHARED

pytest.importorskip("ai_edge_litert", reason="the run extra (ai-edge-litert) is not installed")


def zoo_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env})


def test_a_classifier_zoo_has_never_seen_goes_through_init_fetch_and_predict(coral_tasks, server, tmp_path, monkeypatch):
    data = (coral_tasks / "mobilenet_v1_0.5_160_quant.tflite").read_bytes()
    (tmp_path / "mine.tflite").write_bytes(data)
    url = server.add("/models/mine.tflite", data)
    manifests = tmp_path / "manifests"
    proc = zoo_cli("init", str(tmp_path / "mine.tflite"), "--name", "my-classifier", "--task", "image-classification",
                   "--labels", str(coral_tasks / "imagenet_labels.txt"), "--source", url, "--license", "Apache-2.0",
                   "-o", f"{manifests}/")
    assert proc.returncode == 0, proc.stderr
    doc = yaml.safe_load((manifests / "my-classifier.yaml").read_text())
    (inp,), (out,), (art,) = doc["inputs"], doc["outputs"], doc["artifacts"]
    assert (inp["shape"], inp["layout"], inp["color_order"], inp["dtype"]) == ([1, 160, 160, 3], "NHWC", "RGB", "uint8")
    assert (inp["preprocessing"]["mean"], inp["preprocessing"]["scale"]) == ([128.0] * 3, [0.0078125] * 3)
    assert (out["name"], out["shape"], out["kind"]) == ("MobilenetV1/Predictions/Reshape_1", [1, 1001], "scores")
    assert (art["target"], art["precision"], art["size"], art["input_quantization"]) == (
        "cpu", "uint8", len(data), {"scale": 0.0078125, "zero_point": 128})
    assert zoo_cli("validate", str(manifests)).returncode == 0
    monkeypatch.setenv("ZOO_MANIFESTS", str(manifests))
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    fetched = zoo_cli("fetch", "my-classifier")
    assert fetched.returncode == 0, fetched.stderr
    assert open(fetched.stdout.strip(), "rb").read() == data and server.requests[-1][0] == "/models/mine.tflite"
    predicted = zoo_cli("predict", "my-classifier", str(coral_tasks / "cat.bmp"), "--json", ZOO_OFFLINE="1")
    best = json.loads(predicted.stdout)["classes"][0]
    assert (best["id"], best["label"]) == (286, "Egyptian cat") and best["score"] > 0.51


def test_labels_that_disagree_with_the_output_fail_in_one_line(coral_tasks, tmp_path):
    (tmp_path / "labels.txt").write_text("cat\ndog\n")
    proc = zoo_cli("init", str(coral_tasks / "mobilenet_v2_1.0_224_quant.tflite"), "--name", "x", "--task",
                   "image-classification", "--labels", str(tmp_path / "labels.txt"))
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.splitlines() == ["error: the label file has 2 labels but the model's output has 1001 classes "
                                        "(give one label a line, in class-id order, for every class the output scores)"]


def test_the_operators_say_the_target(coral_tasks, tmp_path):
    proc = zoo_cli("init", str(coral_tasks / "movenet_single_pose_lightning_ptq_edgetpu.tflite"), "--name", "pose-tpu",
                   "--task", "pose-estimation")
    assert proc.returncode == 0, proc.stderr
    doc = yaml.safe_load(proc.stdout)
    (art,), head = doc["artifacts"], doc["head"]
    assert (art["id"], art["target"], art["delegate"]) == ("edgetpu-int8", "edgetpu", "libedgetpu.so.1")
    assert head["keypoints"][0] == "nose" and len(head["keypoints"]) == 17 and doc["outputs"][0]["kind"] == "keypoints-yxs"
    assert (doc["inputs"][0]["preprocessing"]["mean"], doc["inputs"][0]["preprocessing"]["scale"]) == ([0.0] * 3, [1.0] * 3)
    from zoo.convert.compilers import vela
    from zoo.errors import ZooError

    try:
        compiled, _ = vela.compile_model(coral_tasks / "mobilenet_v1_0.5_160_quant.tflite", tmp_path / "vela")
    except ZooError as e:
        pytest.skip(f"vela is not installed ({e})")
    doc = yaml.safe_load(zoo_cli("init", str(compiled), "--name", "npu", "--task", "image-classification").stdout)
    assert doc["artifacts"][0]["target"] == "imx93" and doc["artifacts"][0]["delegate"] == "/usr/lib/libethosu_delegate.so"


def test_a_grayscale_28x28_model_is_described_as_it_is(tmp_path, monkeypatch):
    """A 1x28x28 float input (no channel axis), made here with TensorFlow: layout NHW, GRAY, the range asked for."""
    tf = pytest.importorskip("tensorflow", reason="the build extra (tensorflow) is not installed")
    from PIL import Image

    keras = tf.keras
    net = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    (tmp_path / "digits.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(net).convert())
    proc = zoo_cli("init", str(tmp_path / "digits.tflite"), "--name", "digits", "--task", "image-classification",
                   "--input-range", "0,1", "-o", str(tmp_path / "manifests" / "digits.yaml"))
    assert proc.returncode == 0, proc.stderr
    doc = yaml.safe_load((tmp_path / "manifests" / "digits.yaml").read_text())
    inp = doc["inputs"][0]
    assert (inp["shape"], inp["layout"], inp["color_order"], inp["dtype"]) == ([1, 28, 28], "NHW", "GRAY", "float32")
    assert (inp["preprocessing"]["mean"], inp["preprocessing"]["scale"]) == ([0.0], [round(1 / 255, 10)])
    assert doc["head"]["labels"] == [str(i) for i in range(10)] and doc["outputs"][0]["kind"] == "scores"
    Image.new("L", (56, 56), 200).save(tmp_path / "digit.png")
    monkeypatch.setenv("ZOO_MANIFESTS", str(tmp_path / "manifests"))
    proc = zoo_cli("predict", str(tmp_path / "digits.tflite"), str(tmp_path / "digit.png"), "--json", "--top-k", "10")
    assert proc.returncode == 0, proc.stderr
    scores = [c["score"] for c in json.loads(proc.stdout)["classes"]]
    assert len(scores) == 10 and sum(scores) == pytest.approx(1.0, abs=1e-4)
    shutil.rmtree(tmp_path / "manifests")


SUPPORT = SHARED / "tflite-support"
METADATA_FILES = {"ssd": ("coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite", "object-detection"),
                  "classifier": ("mobilenet_v1_0.25_224_quant.tflite", "image-classification"),
                  "segmenter": ("deeplabv3.tflite", "semantic-segmentation")}


@pytest.fixture
def support():
    if not (SUPPORT / "SHA256SUMS").is_file():
        pytest.skip(f"TensorFlow Lite Support's files are not at {SUPPORT} (../shared is absent)")
    return SUPPORT


def test_init_reads_tflite_metadata_and_reproduces_the_task_library_goldens(support, server, tmp_path, monkeypatch):
    """zoo init alone (no --labels, no editing) on the three files with metadata: its manifests predict upstream's
    goldens (object_detector_test.cc, image_classifier_test.cc, image_segmenter_test.cc)."""
    import numpy as np
    from PIL import Image

    manifests = tmp_path / "manifests"
    for name, (file, task) in METADATA_FILES.items():
        url = server.add(f"/{file}", (support / file).read_bytes())
        proc = zoo_cli("init", str(support / file), "--name", name, "--task", task, "--source", url, "-o", f"{manifests}/")
        assert proc.returncode == 0, proc.stderr
    ssd, classifier, segmenter = (yaml.safe_load((manifests / f"{n}.yaml").read_text()) for n in METADATA_FILES)
    # the label map's own gaps: class 16 is "cat", line 11 "???" (COCO category 12 was dropped)
    assert len(ssd["head"]["labels"]) == 90 and ssd["head"]["labels"][16] == "cat" and ssd["head"]["labels"][11] == "???"
    assert [o["kind"] for o in ssd["outputs"]] == ["boxes", "classes", "scores", "count"]
    assert [o["shape"] for o in ssd["outputs"]] == [[1, 10, 4], [1, 10], [1, 10], [1]]  # max_detections in its options
    assert (classifier["head"]["labels"][934], len(classifier["head"]["labels"])) == ("cheeseburger", 1001)
    pre = segmenter["inputs"][0]["preprocessing"]  # a float input: the metadata's mean 127.5 and std 127.5
    assert (pre["resize_method"], pre["mean"], pre["scale"]) == ("libyuv-bilinear", [127.5] * 3, [0.0078431373] * 3)
    assert segmenter["head"]["labels"][:2] == ["background", "aeroplane"] and len(segmenter["head"]["labels"]) == 21
    monkeypatch.setenv("ZOO_MANIFESTS", str(manifests))
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))

    found = json.loads(zoo_cli("predict", "ssd", str(support / "cats_and_dogs.jpg"), "--json").stdout)["detections"]
    golden = [("cat", (54, 396, 393, 196)), ("cat", (602, 157, 394, 447)), ("cat", (260, 394, 180, 209)),
              ("dog", (389, 197, 278, 409))]
    for d, (label, (x, y, w, h)) in zip(found, golden, strict=False):
        edges = (d["box"]["xmin"] * 1200, d["box"]["ymin"] * 600, d["box"]["xmax"] * 1200, d["box"]["ymax"] * 600)
        assert d["label"] == label and max(abs(e - g) for e, g in zip(edges, (x, y, x + w, y + h))) <= 3
    assert len(found) >= 4
    best = json.loads(zoo_cli("predict", "classifier", str(support / "burger.jpg"), "--json").stdout)["classes"][0]
    assert (best["id"], best["label"]) == (934, "cheeseburger") and abs(best["score"] - 0.96) <= 0.01
    import zoo

    mask = zoo.load("segmenter").predict(support / "segmentation_input_rotation0.jpg").mask
    golden_mask = np.asarray(Image.open(support / "segmentation_golden_rotation0.png")) // 10
    assert (mask != golden_mask).mean() <= 0.01


def _zip_start(data: bytes) -> int:
    return data.rfind(b"PK\x03\x04")  # the appended zip holds one file


@pytest.mark.parametrize("damage", ["identifier", "offset", "zip", "label-bomb", "member"])
def test_hostile_metadata_fails_in_one_line(support, tmp_path, damage):
    import io
    import zipfile

    data = bytearray((support / "deeplabv3.tflite").read_bytes())
    at = data.find(b"M001")
    if damage == "identifier":
        data[at:at + 4], want = b"M00X", "is not TFLite Model Metadata"
    elif damage == "offset":
        data[at - 4:at], want = (0xFFFFFF00).to_bytes(4, "little"), "its TFLite metadata is damaged"
    elif damage == "zip":  # the central directory's entry no longer where the end record says
        entry = data.rfind(b"PK\x01\x02")
        data[entry:entry + 4], want = b"PK\x01\x09", "the zip appended to it cannot be read"
    else:
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
            if damage == "label-bomb":  # 64 MB of labels in a few kilobytes
                z.writestr("labelmap.txt", b"a\n" * (32 << 20))
            else:
                z.writestr("other.txt", b"background\n")
        data, want = data[:_zip_start(bytes(data))] + archive.getvalue(), {
            "label-bomb": "its label file 'labelmap.txt' is over zoo's 4,194,304 bytes",
            "member": "its metadata names labelmap.txt, which the zip appended to it lacks"}[damage]
    (tmp_path / "hostile.tflite").write_bytes(bytes(data))
    proc = zoo_cli("init", str(tmp_path / "hostile.tflite"), "--name", "x", "--task", "semantic-segmentation")
    assert proc.returncode == 1 and want in proc.stderr and len(proc.stderr.strip().splitlines()) <= 2, proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_detector_without_metadata_needs_labels_and_a_postprocessed_form(support, coral_tasks, tmp_path):
    proc = zoo_cli("init", str(coral_tasks / "mobilenet_v2_1.0_224_quant.tflite"), "--name", "x", "--task", "object-detection")
    assert proc.returncode == 1 and "zoo init describes object detectors that end in TFLite_Detection_PostProcess" in proc.stderr
    data = (support / "coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite").read_bytes()
    (tmp_path / "bare.tflite").write_bytes(data[:data.find(b"TFLITE_METADATA")] + b"TFLITE_METADATX"
                                           + data[data.find(b"TFLITE_METADATA") + 15:])
    proc = zoo_cli("init", str(tmp_path / "bare.tflite"), "--name", "x", "--task", "object-detection")
    assert proc.returncode == 1 and "a detector needs --labels FILE" in proc.stderr
def test_init_says_which_tasks_it_describes(coral_tasks):
    """In its help, from the task registry (a task added there and taught to init shows up); every task now."""
    from zoo.manifest_init import INIT_TASKS
    from zoo.tasks import TASKS

    assert set(INIT_TASKS) == set(TASKS) and "object-detection" in INIT_TASKS
    help_text = " ".join(zoo_cli("init", "-h").stdout.split())
    for task in INIT_TASKS:
        assert task in help_text.replace("- ", "-"), task


def test_init_output_never_writes_through_a_link(coral_tasks, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("not zoo's")
    (tmp_path / "mine.yaml").symlink_to(victim)
    proc = zoo_cli("init", str(coral_tasks / "mobilenet_v2_1.0_224_quant.tflite"), "--name", "mine", "--task",
                   "image-classification", "-o", str(tmp_path / "mine.yaml"))
    assert proc.returncode == 0, proc.stderr
    assert victim.read_text() == "not zoo's" and not (tmp_path / "mine.yaml").is_symlink()
    assert yaml.safe_load((tmp_path / "mine.yaml").read_text())["name"] == "mine"


def test_an_output_claiming_two_billion_classes_is_refused_in_one_line_at_once(tmp_path):
    from tflite_files import classifier

    (tmp_path / "m.tflite").write_bytes(classifier(2**31 - 1))
    proc = zoo_cli("init", str(tmp_path / "m.tflite"), "--name", "x", "--task", "image-classification")
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.splitlines() == ["error: the output's shape says 2,147,483,647 classes or keypoints: more than a "
                                        "manifest of at most 1,048,576 bytes can name"]


def test_a_manifest_larger_than_zoo_reads_is_refused_before_anything_is_written(tmp_path):
    """50,000 classes fit with numbers for names (590 KB, and zoo validate reads it back); with real names they do not."""
    from tflite_files import classifier

    (tmp_path / "m.tflite").write_bytes(classifier(50_000))
    (tmp_path / "labels.txt").write_text("".join(f"a class named {i:05}\n" for i in range(50_000)))  # 1,000,000 bytes
    proc = zoo_cli("init", str(tmp_path / "m.tflite"), "--name", "x", "--task", "image-classification", "--labels",
                   str(tmp_path / "labels.txt"), "-o", str(tmp_path / "out" / "x.yaml"))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: the manifest would be ") and "bytes (50,000 labels), more than the 1,048,576 " \
        "zoo reads; nothing was written" in proc.stderr
    assert not (tmp_path / "out" / "x.yaml").exists()
    numbered = zoo_cli("init", str(tmp_path / "m.tflite"), "--name", "x", "--task", "image-classification", "-o",
                       str(tmp_path / "ok") + "/")
    assert numbered.returncode == 0, numbered.stderr
    assert zoo_cli("validate", str(tmp_path / "ok")).returncode == 0


def test_a_bidi_override_in_a_label_never_reaches_the_terminal_and_the_manifest_keeps_it(tmp_path):
    from tflite_files import classifier

    (tmp_path / "m.tflite").write_bytes(classifier(2))
    (tmp_path / "labels.txt").write_text("cat\u202egod\ndog\u200b\n", encoding="utf-8")
    proc = zoo_cli("init", str(tmp_path / "m.tflite"), "--name", "x", "--task", "image-classification", "--labels",
                   str(tmp_path / "labels.txt"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.isascii() and "\\u202E" in proc.stdout
    assert yaml.safe_load(proc.stdout)["head"]["labels"] == ["cat\u202egod", "dog\u200b"]
    from zoo.errors import printable

    assert printable("cat\u202egod \u2066x\u2069 \ufeff") == "catgod x "


def test_a_one_channel_probability_segmenter_scores_its_class_against_the_background(tmp_path, monkeypatch):
    """Was `kind: logits` with one label '0', and predict said `0 100.00%`."""
    import numpy as np
    from PIL import Image
    from tflite_files import one_channel_probability

    (tmp_path / "seg.tflite").write_bytes(one_channel_probability())
    proc = zoo_cli("init", str(tmp_path / "seg.tflite"), "--name", "my-seg", "--task", "semantic-segmentation", "-o",
                   str(tmp_path / "manifests") + "/")
    assert proc.returncode == 0, proc.stderr
    doc = yaml.safe_load((tmp_path / "manifests" / "my-seg.yaml").read_text())
    assert (doc["outputs"][0]["kind"], doc["head"]["labels"]) == ("probability", ["background", "my-seg"])
    half = np.zeros((8, 8), np.uint8)
    half[:, 6:] = 255  # white is 1.0 at the input (range -1,1), 0.73 after the sigmoid: the class; black is 0.27
    Image.fromarray(half).save(tmp_path / "half.png")
    monkeypatch.setenv("ZOO_MANIFESTS", str(tmp_path / "manifests"))
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    predicted = zoo_cli("predict", str(tmp_path / "seg.tflite"), str(tmp_path / "half.png"), "-o", str(tmp_path / "m.png"))
    assert predicted.returncode == 0, predicted.stderr
    assert predicted.stdout.splitlines() == ["background      75.00%", "my-seg          25.00%"]


def test_labels_for_class_ids_are_checked_against_the_channels_the_argmax_reads(tmp_path):
    from tflite_files import argmax_segmenter

    (tmp_path / "deeplab.tflite").write_bytes(argmax_segmenter(19))
    for n in (19, 20):
        (tmp_path / f"{n}.txt").write_text("".join(f"class {i}\n" for i in range(n)))
    proc = zoo_cli("init", str(tmp_path / "deeplab.tflite"), "--name", "x", "--task", "semantic-segmentation", "--labels",
                   str(tmp_path / "20.txt"))
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.splitlines() == ["error: the label file has 20 labels but the ArgMax that makes its class ids reads "
                                        "19 classes (give one label a line, in class-id order, for every class the "
                                        "output scores)"]
    ok = zoo_cli("init", str(tmp_path / "deeplab.tflite"), "--name", "x", "--task", "semantic-segmentation", "--labels",
                 str(tmp_path / "19.txt"))
    assert ok.returncode == 0 and yaml.safe_load(ok.stdout)["head"]["labels"][-1] == "class 18"


def test_a_model_without_outputs_is_one_line(tmp_path):
    from tflite_files import tflite

    (tmp_path / "none.tflite").write_bytes(tflite([("image", [1, 8, 8, 3], "float32")], [], [0], []))
    r = zoo_cli("init", str(tmp_path / "none.tflite"), "--name", "m", "--task", "image-classification")
    assert (r.returncode, r.stderr) == (1, "error: none.tflite has no outputs; zoo describes models whose outputs a task "
                                           "reads\n")


def test_a_model_litert_refuses_with_several_lines_is_one_line(tmp_path):
    from PIL import Image
    from tflite_files import tflite

    (tmp_path / "big.tflite").write_bytes(tflite([("image", [1, 2**31 - 1, 2**31 - 1, 3], "float32"),
                                                  ("s", [1, 10], "float32")], [("SOFTMAX", [0], [1])], [0], [1]))
    Image.new("RGB", (8, 8)).save(tmp_path / "photo.png")
    r = zoo_cli("predict", str(tmp_path / "big.tflite"), str(tmp_path / "photo.png"), "--like", "mobilenet-v2")
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stderr.startswith("error: LiteRT cannot load big.tflite (") and "overflowed.; Tensor 0" in r.stderr


def test_a_model_whose_input_has_no_pixels_names_the_file_given(tmp_path):
    from tflite_files import tflite

    (tmp_path / "flat.tflite").write_bytes(tflite([("image", [1, 0, 0, 3], "float32"), ("s", [1, 10], "float32")],
                                                  [("SOFTMAX", [0], [1])], [0], [1]))
    r = zoo_cli("init", str(tmp_path / "flat.tflite"), "--name", "m", "--task", "image-classification")
    assert r.returncode == 1 and r.stderr.startswith("error: the manifest zoo init would write for flat.tflite: "
                                                     "inputs[0].shape[1]: Input should be greater than 0"), r.stderr
