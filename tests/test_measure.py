"""zoo bench, eval and predict on Google's real Coral models, and the scoring they rest on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("ai_edge_litert", reason="the run extra (ai-edge-litert) is not installed")
from PIL import Image  # noqa: E402

from zoo import catalog  # noqa: E402
from zoo.evaluation import evaluate_loaded  # noqa: E402
from zoo.model import Model  # noqa: E402
from zoo.preprocess import prepare, quantize  # noqa: E402
from zoo.progress import Progress  # noqa: E402
from zoo.runtime import open_file  # noqa: E402
from zoo.tasks.segmentation import confusion, pascal_palette, read_mask, scores  # noqa: E402

BIRD = 3
DM1, DM05 = "deeplabv3_mnv2_pascal_quant.tflite", "deeplabv3_mnv2_dm05_pascal_quant.tflite"


def zoo_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, timeout=300, env=os.environ)


def bird_scores(coral: Path, model: str):
    m = Model(open_file(coral / model))
    predicted = m.predict(coral / "bird_segmentation.bmp").mask
    truth = read_mask(coral / "bird_segmentation_mask.bmp")
    return scores(confusion(truth, predicted, 21, 255), m.manifest.labels)


def test_google_dm1_on_the_bird_photo(coral):
    s = bird_scores(coral, DM1)
    assert s["per_class"]["bird"] > 90 and s["pixel_accuracy"] > 97


def test_google_dm05_on_the_bird_photo(coral):
    assert bird_scores(coral, DM05)["per_class"]["bird"] > 80


def test_confusion_excludes_the_ignore_label():
    truth = np.array([[0, 1, 255], [2, 2, 1]])
    pred = np.array([[0, 1, 2], [2, 0, 1]])
    m = confusion(truth, pred, 3, 255)
    assert m.tolist() == [[1, 0, 0], [0, 2, 0], [1, 0, 1]]
    s = scores(m, ["a", "b", "c"])
    assert s["per_class"] == {"a": 50.0, "b": 100.0, "c": 50.0}
    assert s["mIoU"] == pytest.approx(200 / 3, abs=1e-4) and s["pixel_accuracy"] == pytest.approx(80)


def test_absent_classes_do_not_count_in_the_mean():
    s = scores(confusion(np.array([[0, 0]]), np.array([[0, 0]]), 3, None), ["a", "b", "c"])
    assert s["per_class"] == {"a": 100.0, "b": None, "c": None} and s["mIoU"] == 100.0


def test_pad_policy_keeps_aspect_and_reports_the_valid_region():
    inp = catalog.get("deeplabv3").input
    inp = inp.model_copy(update={"shape": [1, 64, 64, 3]})
    image = Image.fromarray(np.full((100, 200, 3), 255, np.uint8))
    p = prepare(image, inp)
    assert p.region == (0, 0, 64, 32) and p.array.shape == (64, 64, 3)
    assert np.allclose(p.array[:32], 1.0) and np.allclose(p.array[32:], 0.0)
    q = quantize(p.array, (0.0078125, 128), "uint8")
    assert q[0, 0, 0] == 255 and q[40, 0, 0] == 128


@pytest.fixture
def voc(coral, tmp_path):
    """A two-image PASCAL VOC layout from the real bird photo and its mask (the second one mirrored)."""
    root = tmp_path / "VOC2012"
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / sub).mkdir(parents=True)
    photo = Image.open(coral / "bird_segmentation.bmp").convert("RGB")
    mask = read_mask(coral / "bird_segmentation_mask.bmp")
    for name, img, m in (("2007_000001", photo, mask), ("2007_000002", photo.transpose(Image.FLIP_LEFT_RIGHT), mask[:, ::-1])):
        img.save(root / "JPEGImages" / f"{name}.jpg", quality=95)
        png = Image.fromarray(np.ascontiguousarray(m), mode="P")
        png.putpalette(pascal_palette().flatten().tolist())
        png.save(root / "SegmentationClass" / f"{name}.png")
    (root / "ImageSets" / "Segmentation" / "val.txt").write_text("2007_000001\n2007_000002\n")
    return tmp_path


def test_eval_equals_a_direct_computation(coral, voc):
    proc = zoo_cli("eval", str(coral / DM1), "--data", str(voc), "--json")
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    m = Model(open_file(coral / DM1))
    matrix = np.zeros((21, 21), np.int64)
    for name in ("2007_000001", "2007_000002"):
        predicted = m.predict(voc / "VOC2012" / "JPEGImages" / f"{name}.jpg").mask
        truth = np.asarray(Image.open(voc / "VOC2012" / "SegmentationClass" / f"{name}.png"))
        matrix += confusion(truth, predicted, 21, 255)
    direct = scores(matrix, m.manifest.labels)
    assert got["images"] == 2 and got["layout"] == "voc" and got["unit"] == "%" and got["metric"] == "mIoU"
    assert got["mIoU"] == pytest.approx(direct["mIoU"]) and got["pixel_accuracy"] == pytest.approx(direct["pixel_accuracy"])
    assert got["per_class_iou"]["bird"] == pytest.approx(direct["per_class"]["bird"]) and got["per_class_iou"]["bird"] > 85
    (upstream,) = got["manifest"]
    assert upstream["value"] == 74.26 and upstream["difference"] == pytest.approx(direct["mIoU"] - 74.26, abs=0.01)


def test_eval_of_a_plain_folder_is_not_compared_with_voc_val_and_small_runs_are_not_recorded(coral, tmp_path, mirror_manifest):
    (tmp_path / "set" / "images").mkdir(parents=True)
    (tmp_path / "set" / "masks").mkdir()
    Image.open(coral / "bird_segmentation.bmp").convert("RGB").save(tmp_path / "set" / "images" / "bird.png")
    Image.open(coral / "bird_segmentation_mask.bmp").save(tmp_path / "set" / "masks" / "bird.png")
    got = json.loads(zoo_cli("eval", str(coral / DM1), "--data", str(tmp_path / "set"), "--json").stdout)
    assert (got["dataset"], got["split"], got["manifest"]) == ("set", "all", [])
    text = zoo_cli("eval", str(coral / DM1), "--data", str(tmp_path / "set")).stdout
    assert "no mIoU figure on set all to compare with" in text and "difference" not in text
    small = zoo_cli("eval", str(coral / DM1), "--data", str(tmp_path / "set"), "--record")
    assert small.returncode == 1 and "is not recorded (the minimum is 100)" in small.stderr
    assert zoo_cli("eval", str(coral / DM1), "--data", str(tmp_path / "set"), "--limit", "0").returncode == 2


def test_eval_reads_plain_image_and_mask_folders(coral, tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    Image.open(coral / "bird_segmentation.bmp").save(tmp_path / "images" / "bird.png")
    Image.open(coral / "bird_segmentation_mask.bmp").save(tmp_path / "masks" / "bird.png")
    e = evaluate_loaded(Model(open_file(coral / DM1)), tmp_path, "val", None, Progress())
    assert e.dataset.layout == "pairs" and e.rows[0].images == 1 and e.rows[0].figures["per_class_iou"]["bird"] > 90


@pytest.mark.parametrize("broken", ["images", "masks"])
def test_eval_names_an_unreadable_image_or_mask_in_one_line(coral, tmp_path, broken):
    for folder in ("images", "masks"):
        (tmp_path / folder).mkdir()
    Image.open(coral / "bird_segmentation.bmp").save(tmp_path / "images" / "a.png")
    Image.open(coral / "bird_segmentation_mask.bmp").save(tmp_path / "masks" / "a.png")
    (tmp_path / "images" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)  # a PNG signature, then nothing
    (tmp_path / "masks" / "b.png").write_bytes((tmp_path / "masks" / "a.png").read_bytes())
    if broken == "masks":
        (tmp_path / "images" / "b.png").write_bytes((tmp_path / "images" / "a.png").read_bytes())
        (tmp_path / "masks" / "b.png").write_bytes(b"not a mask")
    proc = zoo_cli("eval", str(coral / DM1), "--data", str(tmp_path))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.splitlines()[-1] == (f"error: {tmp_path / broken / 'b.png'} is not an image zoo can read "
                                            f"({'UnidentifiedImageError'}) (give a JPEG, PNG or BMP file)")


def test_bench_json_is_positive_and_stable(coral):
    proc = zoo_cli("bench", str(coral / DM05), "--threads", "2", "--runs", "10", "--warmup", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    lat = rep["latency"]
    assert 0 < lat["min_ms"] <= lat["median_ms"] <= lat["p90_ms"] and lat["init_ms"] > 0 and lat["first_ms"] > 0
    assert lat["std_ms"] >= 0 and lat["min_ms"] <= lat["median_ms"] <= lat["p90_ms"] and lat["peak_rss_mb"] >= lat["init_rss_mb"] > 0
    assert (rep["model"], rep["artifact"], rep["target"], rep["input_size"]) == ("deeplabv3", "cpu-uint8", "cpu", [513, 513])
    assert rep["machine"]["cores"] >= 1 and rep["machine"]["runtime"].startswith("ai-edge-litert ")


@pytest.mark.parametrize("model", ["deeplabv3_mnv2_dm05_pascal_quant_edgetpu.tflite", "deeplabv3_mnv2_pascal_quant_edgetpu.tflite"])
def test_edgetpu_files_are_refused_without_libedgetpu(coral, model):
    proc = zoo_cli("bench", str(coral / model), "--runs", "1")
    assert proc.returncode == 1 and proc.stdout == ""
    note, line = proc.stderr.splitlines()
    assert note.startswith(f"{model} is ") and note.endswith(" edgetpu artifact (matched by sha256)")
    assert line.startswith(f"error: {model} is compiled for Google Coral Edge TPU") and "needs libedgetpu.so.1" in line


def test_predict_writes_mask_and_overlay_only_where_asked(coral, tmp_path):
    image = tmp_path / "bird.bmp"
    image.write_bytes((coral / "bird.bmp").read_bytes())
    proc = zoo_cli("predict", str(coral / DM1), str(image), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert sorted(os.listdir(tmp_path)) == ["bird.bmp"] and "mask" not in out  # no -o: printed, nothing written
    shares = {c["label"]: c["share"] for c in out["classes"]}
    assert set(shares) >= {"background", "bird"} and sum(shares.values()) == pytest.approx(1.0)
    assert 0.05 < shares["bird"] < 0.6
    out = json.loads(zoo_cli("predict", str(coral / DM1), str(image), "--json", "-o", f"{tmp_path}/").stdout)
    mask = np.asarray(Image.open(out["mask"]))
    assert mask.shape == (343, 512, 3)
    colours = {tuple(c) for c in mask.reshape(-1, 3)}
    assert tuple(pascal_palette()[BIRD]) in colours and colours <= {tuple(c) for c in pascal_palette()}
    assert Image.open(out["overlay"]).size == (512, 343)
    assert sorted(os.listdir(tmp_path)) == ["bird.bmp", "bird_ids.png", "bird_mask.png", "bird_overlay.png"]


def test_predict_never_overwrites_nor_writes_through_a_link(coral, tmp_path):
    """A dataset keeps ground truth under the names predict writes, and a link may point anywhere: an existing name
    stops the command before anything is written; --force replaces the entries themselves, never a link's target."""
    victim = tmp_path / "elsewhere.txt"
    victim.write_text("not zoo's")
    truth = tmp_path / "bird_mask.png"
    truth.write_bytes(b"ground truth")
    (tmp_path / "bird_ids.png").symlink_to(victim)
    (tmp_path / "bird_overlay.png").symlink_to(tmp_path / "nowhere.png")  # dangling: O_CREAT would follow it
    proc = zoo_cli("predict", str(coral / DM1), str(coral / "bird.bmp"), "-o", str(truth))
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.splitlines() == [f"error: {truth} exists; zoo predict writes only new files (pass --force to "
                                        "replace it, or choose another -o path)"]
    truth.unlink()
    proc = zoo_cli("predict", str(coral / DM1), str(coral / "bird.bmp"), "-o", str(truth))
    assert proc.returncode == 1 and "bird_ids.png exists" in proc.stderr
    assert not truth.exists() and not (tmp_path / "nowhere.png").exists() and victim.read_text() == "not zoo's"
    proc = zoo_cli("predict", str(coral / DM1), str(coral / "bird.bmp"), "-o", str(truth), "--force")
    assert proc.returncode == 0, proc.stderr
    assert victim.read_text() == "not zoo's" and not (tmp_path / "nowhere.png").exists()
    for name in ("bird_mask.png", "bird_ids.png", "bird_overlay.png"):
        assert not (tmp_path / name).is_symlink() and Image.open(tmp_path / name).size == (512, 343)


@pytest.mark.parametrize("model, image", [(DM1, "bird.bmp"), ("mobilenet_v1_0.5_160_quant.tflite", "cat.bmp"),
                                          ("movenet_single_pose_lightning_ptq.tflite", "squat.bmp"),
                                          ("face_detection_short_range.tflite", "grace_hopper.bmp")])
def test_every_task_writes_a_new_picture_only(coral, coral_tasks, tmp_path, model, image):
    folder = next(f for f in (coral, coral_tasks, coral.parent / "mediapipe") if (f / model).exists())
    out = tmp_path / "out.png"
    out.write_bytes(b"mine")
    proc = zoo_cli("predict", str(folder / model), str(folder / image), "-o", str(out))
    assert proc.returncode == 1 and f"{out} exists" in proc.stderr and out.read_bytes() == b"mine"
    assert sorted(os.listdir(tmp_path)) == ["out.png"]
    proc = zoo_cli("predict", str(folder / model), str(folder / image), "-o", str(tmp_path / "out.txt"))
    assert proc.returncode == 2 and "does not end in a picture's extension" in proc.stderr
    assert sorted(os.listdir(tmp_path)) == ["out.png"]
    proc = zoo_cli("predict", str(folder / model), str(folder / image), "-o", str(tmp_path / "new.jpg"))
    assert proc.returncode == 0, proc.stderr
    assert Image.open(tmp_path / "new.jpg").format == "JPEG"


@pytest.fixture
def mirror_manifest(coral, tmp_path, monkeypatch):
    """A user copy of the deeplabv3-dm1 manifest (its path takes the --record writes)."""
    folder = tmp_path / "manifests"
    folder.mkdir()
    path = folder / "deeplabv3-dm1.yaml"
    path.write_text((catalog.bundled_dir() / "deeplabv3-dm1.yaml").read_text())
    monkeypatch.setenv("ZOO_MANIFESTS", str(folder))
    return path


def test_bench_and_eval_record_measured_figures(coral, voc, mirror_manifest):
    before = yaml.safe_load(mirror_manifest.read_text())
    assert zoo_cli("bench", str(coral / DM1), "--threads", "2", "--runs", "3", "--record").returncode == 0
    assert zoo_cli("eval", str(coral / DM1), "--data", str(voc), "--record", "--allow-small").returncode == 0
    after = catalog.load().get("deeplabv3-dm1")
    assert [b.model_dump(mode="json", exclude_none=True) for b in after.benchmarks[:-1]] == before["benchmarks"]
    bench = after.benchmarks[-1]
    assert (bench.source, bench.applies_to, bench.threads, bench.input_size) == ("measured", "cpu-uint8", 2, [513, 513])
    assert bench.command.startswith("zoo bench ") and bench.latency_ms > 0
    metric = after.metrics[-1]
    assert (metric.source, metric.dataset, metric.split, metric.images, metric.applies_to) == (
        "measured", "PASCAL VOC 2012", "val", 2, "cpu-uint8")
    assert len(after.metrics) == len(before["metrics"]) + 1


def test_predict_checks_its_image_before_fetching_and_writes_a_class_id_mask(coral, tmp_path):
    (tmp_path / "not-an-image.jpg").write_text("hello")
    for bad, why in ((tmp_path / "nothere.jpg", "no such file"), (tmp_path, "is not a file"),
                     (tmp_path / "not-an-image.jpg", "is not an image zoo can read")):
        proc = zoo_cli("predict", "no-such-model", str(bad))
        assert proc.returncode == 1 and why in proc.stderr and "no model named" not in proc.stderr
    out = json.loads(zoo_cli("predict", str(coral / DM1), str(coral / "bird_segmentation.bmp"), "-o", f"{tmp_path}/masks/",
                             "--json").stdout)
    ids = np.asarray(Image.open(out["ids"]))
    assert out["mask"] == str(tmp_path / "masks" / "bird_segmentation_mask.png") and ids.shape == (513, 513)
    assert read_mask(Path(out["ids"])).max() < 21 and (ids == BIRD).mean() > 0.1


def test_bench_needs_at_least_one_run(coral):
    assert zoo_cli("bench", str(coral / DM1), "--runs", "0").returncode == 2


def test_litert_announcement_stays_out_of_the_way_and_json_is_alone(coral, tmp_path):
    proc = zoo_cli("bench", str(coral / DM05), "--runs", "2", "--warmup", "0", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["latency"]["runs"] == 2
    assert "Created TensorFlow Lite XNNPACK delegate" not in proc.stderr


def test_predict_of_a_file_says_which_manifest_and_honours_the_target(coral, tmp_path, monkeypatch):
    image = str(coral / "bird.bmp")
    proc = zoo_cli("predict", str(coral / DM1), image)
    assert proc.returncode == 0 and f"{DM1} is deeplabv3-dm1's cpu-uint8 artifact (matched by sha256)" in proc.stderr
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "my-dm1.yaml").write_text((catalog.bundled_dir() / "deeplabv3-dm1.yaml").read_text()
                                        .replace("name: deeplabv3-dm1", "name: my-dm1").replace("[deeplabv3-mnv2]", "[]"))
    monkeypatch.setenv("ZOO_MANIFESTS", str(folder))
    proc = zoo_cli("predict", str(coral / DM1), image)
    assert proc.returncode == 0 and (f"warning: {DM1} is pinned by 2 manifests (deeplabv3-dm1, my-dm1); using "
                                     "deeplabv3-dm1's preprocessing and labels (--like NAME chooses another)") in proc.stderr
    proc = zoo_cli("predict", str(coral / DM1), image, "-t", "imx93")  # honoured: the Ethos-U delegate, absent here
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.splitlines()[-1].startswith("error: -t imx93 needs /usr/lib/libethosu_delegate.so, which cannot")
    edgetpu = "deeplabv3_mnv2_dm05_pascal_quant_edgetpu.tflite"
    proc = zoo_cli("predict", str(coral / edgetpu), image, "-t", "cpu")
    assert proc.returncode == 1 and proc.stderr.splitlines()[-1].startswith(
        f"error: {edgetpu} is compiled for Google Coral Edge TPU (USB, PCIe/M.2, Dev Board); it cannot run with -t cpu")


def test_a_file_litert_cannot_load_says_so_not_that_it_needs_none(coral_tasks, tmp_path):
    """An unknown custom operator (the Edge TPU's, renamed, so no accelerator is recognised): LiteRT cannot prepare it."""
    data = (coral_tasks / "mobilenet_v1_0.5_160_quant_edgetpu.tflite").read_bytes()
    assert data.count(b"edgetpu-custom-op") == 1
    bad = tmp_path / "odd.tflite"
    bad.write_bytes(data.replace(b"edgetpu-custom-op", b"edgetpu-custom-oq"))
    proc = zoo_cli("predict", str(bad), str(coral_tasks / "cat.bmp"))
    assert proc.returncode == 1 and proc.stdout == "" and "None" not in proc.stderr
    assert proc.stderr.startswith("error: LiteRT cannot load odd.tflite (") and "edgetpu-custom-oq" in proc.stderr
