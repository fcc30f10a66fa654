"""zoo eval over every file of a model on the same images (zoo/evaluation.py) and the dataset layouts it reads: real
models on the shared sample sets (ImageNet samples, COCO val2017's first 128), detection AP by pycocotools."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("ai_edge_litert", reason="the run extra (ai-edge-litert) is not installed")
pytest.importorskip("pycocotools", reason="the eval extra (pycocotools) is not installed")
from PIL import Image  # noqa: E402

from zoo import catalog  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "testdata"
COCO = SHARED / "coco-val2017-128"
IMAGENET = SHARED / "imagenet-samples-250"
SSD = SHARED / "tflite-support" / "coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite"


def zoo_cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, timeout=900, env=os.environ,
                          cwd=cwd)


@pytest.fixture(scope="session")
def coco() -> Path:
    if not (COCO / "SHA256SUMS").is_file():
        pytest.skip(f"COCO sample set not found at {COCO} (../shared is absent)")
    return COCO


@pytest.fixture(scope="session")
def imagenet() -> Path:
    if not (IMAGENET / "SHA256SUMS").is_file():
        pytest.skip(f"ImageNet sample set not found at {IMAGENET} (../shared is absent)")
    return IMAGENET


def ssd_manifest() -> dict:
    """Google's SSD MobileNet v1 (TensorFlow Lite Support's test file) described as a zoo model: its label map is the
    zip appended to the file."""
    labels = zipfile.ZipFile(SSD).read("labelmap.txt").decode().splitlines()
    return {
        "schema_version": 2, "name": "ssd-test", "family": "ssd", "task": "object-detection",
        "description": "Google's SSD MobileNet v1 COCO quantized, as TensorFlow Lite Support tests it",
        "license": "Apache-2.0", "homepage": "https://github.com/tensorflow/tflite-support",
        "inputs": [{"shape": [1, 300, 300, 3], "layout": "NHWC", "color_order": "RGB", "dtype": "float32",
                    "preprocessing": {"resize": "stretch", "resize_method": "pillow-bilinear", "mean": [128.0] * 3,
                                      "scale": [0.0078125] * 3}}],
        "outputs": [{"shape": [1, 10, 4], "kind": "boxes"}, {"shape": [1, 10], "kind": "classes"},
                    {"shape": [1, 10], "kind": "scores"}, {"shape": [1], "kind": "count"}],
        "head": {"labels": labels, "min_score": 0.5},
        "artifacts": [{"id": "cpu-uint8", "target": "cpu", "format": "tflite", "precision": "uint8", "input_dtype": "uint8",
                       "output_dtype": "float32", "input_quantization": {"scale": 0.0078125, "zero_point": 128},
                       "file": SSD.name, "size": SSD.stat().st_size,
                       "sha256": hashlib.sha256(SSD.read_bytes()).hexdigest(),
                       "sources": [f"https://example.invalid/{SSD.name}"], "recipe": "published by Google"}],
    }


@pytest.fixture
def ssd(coco, tmp_path, monkeypatch):
    """The SSD manifest in a user folder, its file served from a loopback mirror into an empty cache."""
    from loopback import StaticServer

    if not SSD.is_file():
        pytest.skip(f"{SSD} not found")
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "ssd-test.yaml").write_text(yaml.safe_dump(ssd_manifest(), sort_keys=False))
    (tmp_path / "mirror" / "ssd-test").mkdir(parents=True)
    (tmp_path / "mirror" / "ssd-test" / SSD.name).symlink_to(SSD)
    with StaticServer(tmp_path / "mirror") as server:
        monkeypatch.setenv("ZOO_MIRRORS", server.base)
        monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
        monkeypatch.setenv("ZOO_MANIFESTS", str(tmp_path / "manifests"))
        yield tmp_path / "manifests" / "ssd-test.yaml"


def test_detection_ap_comes_from_pycocotools_on_zoos_predictions_in_both_layouts(ssd, coco, tmp_path):
    proc = zoo_cli("eval", "ssd-test", "--data", str(coco), "--split", "val2017", "--limit", "40", "--artifacts", "all",
                   "--json")
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    (row,) = got["artifacts"]
    assert (got["layout"], got["split"], got["metric"], row["images"]) == ("yolo", "val2017", "mAP", 40)
    assert got["notes"][0].startswith("80 of the model's 90 classes mapped by label name")
    # pycocotools on zoo's own predictions, computed here independently of zoo's scoring
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    import zoo
    from zoo.tasks.detection import EVAL_MIN_SCORE

    model = zoo.load("ssd-test", target="cpu")
    names = yaml.safe_load((coco / "detection" / "config.yaml").read_text())["names"]
    ids = {n: i for i, n in names.items()}
    images = sorted((coco / "images" / "val2017").iterdir())[:40]
    gt = {"images": [], "annotations": [], "categories": [{"id": i, "name": n} for i, n in names.items()]}
    results = []
    for k, path in enumerate(images):
        w, h = Image.open(path).size
        gt["images"].append({"id": k, "file_name": path.name, "width": w, "height": h})
        for line in (coco / "detection" / "labels" / "val2017" / f"{path.stem}.txt").read_text().splitlines():
            c, cx, cy, bw, bh = map(float, line.split())
            gt["annotations"].append({"id": len(gt["annotations"]) + 1, "image_id": k, "category_id": int(c), "iscrowd": 0,
                                      "bbox": [(cx - bw / 2) * w, (cy - bh / 2) * h, bw * w, bh * h], "area": bw * w * bh * h})
        for d in model.predict(path, min_score=EVAL_MIN_SCORE).detections:
            if d.label in ids:
                b = d.box
                results.append({"image_id": k, "category_id": ids[d.label], "score": round(d.score, 5),
                                "bbox": [b.xmin * w, b.ymin * h, (b.xmax - b.xmin) * w, (b.ymax - b.ymin) * h]})
    truth = COCO()
    truth.dataset = gt
    truth.createIndex()
    e = COCOeval(truth, truth.loadRes(results), "bbox")
    e.evaluate(), e.accumulate(), e.summarize()
    assert row["figures"]["mAP"] == pytest.approx(100 * e.stats[0], abs=1e-3)
    assert row["figures"]["AP50"] == pytest.approx(100 * e.stats[1], abs=1e-3) and row["figures"]["AP50"] > 20
    # the same boxes as COCO instances JSON (category ids 1-based, with a gap) give the same figures
    instances = tmp_path / "instances"
    (instances / "annotations").mkdir(parents=True)
    (instances / "images").symlink_to(coco / "images")
    coco_ids = {i: i + 1 + (i >= 11) for i in names}  # a gap, as COCO's ids have
    doc = {"images": gt["images"], "categories": [{"id": coco_ids[i], "name": n} for i, n in names.items()],
           "annotations": [{**a, "category_id": coco_ids[a["category_id"]]} for a in gt["annotations"]]}
    (instances / "annotations" / "instances_val2017.json").write_text(json.dumps(doc))
    again = json.loads(zoo_cli("eval", "ssd-test", "--data", str(instances), "--split", "val2017", "--artifacts",
                               "cpu-uint8", "--json").stdout)
    assert again["layout"] == "coco-instances" and again["artifacts"][0]["images"] == 40
    assert again["artifacts"][0]["figures"] == row["figures"]


def test_bad_detection_data_is_one_line(ssd, coco, tmp_path):
    data = tmp_path / "yolo"
    (data / "labels" / "val").mkdir(parents=True)
    (data / "images" / "val").mkdir(parents=True)
    (data / "data.yaml").write_text("names: [person, bicycle]\n")
    for k, src in enumerate(sorted((coco / "images" / "val2017").iterdir())[:3]):
        shutil.copyfile(src, data / "images" / "val" / src.name)
        (data / "labels" / "val" / f"{src.stem}.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    ok = zoo_cli("eval", "ssd-test", "--data", str(data), "--artifacts", "all", "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["artifacts"][0]["images"] == 3
    (data / "images" / "val" / "broken.jpg").write_text("not a picture")
    broken = zoo_cli("eval", "ssd-test", "--data", str(data), "--artifacts", "all")
    assert broken.returncode == 1 and broken.stdout == "" and len(broken.stderr.splitlines()) == 1
    assert "broken.jpg is not an image zoo can read" in broken.stderr
    (data / "images" / "val" / "broken.jpg").unlink()
    first = sorted((data / "labels" / "val").iterdir())[0]
    first.write_text("0 0.5 0.5 0.2 0.2\n7 0.5 0.5 0.2 0.2\n")
    bad = zoo_cli("eval", "ssd-test", "--data", str(data), "--artifacts", "all")
    assert bad.returncode == 1 and bad.stdout == ""
    (line,) = bad.stderr.splitlines()
    assert f"{first.name}:2: class 7 is not in" in line and "Traceback" not in bad.stderr
    for box in ("0 nan 0.5 0.2 0.2", "0 0.5 0.5 inf 0.2", "0 0.5 0.5 -0.2 0.2", "0 0.5 0.5 0.2 0.2 0.9"):
        first.write_text(f"0 0.5 0.5 0.2 0.2\n{box}\n")
        odd = zoo_cli("eval", "ssd-test", "--data", str(data), "--artifacts", "all")
        assert odd.returncode == 1 and odd.stdout == "" and "Traceback" not in odd.stderr, (box, odd.stdout)
        (line,) = odd.stderr.splitlines()
        assert f"{first.name}:2 is not a YOLO box" in line and box in line
    # a YOLO segment label (class and polygon) is its polygon's extent, as ultralytics reads it: here the same box
    first.write_text("0 0.4 0.4 0.6 0.4 0.6 0.6 0.4 0.6\n")
    polygon = zoo_cli("eval", "ssd-test", "--data", str(data), "--artifacts", "all", "--json")
    first.write_text("0 0.5 0.5 0.2 0.2\n")
    boxed = zoo_cli("eval", "ssd-test", "--data", str(data), "--artifacts", "all", "--json")
    assert polygon.returncode == boxed.returncode == 0, polygon.stderr
    assert json.loads(polygon.stdout)["artifacts"][0]["figures"] == json.loads(boxed.stdout)["artifacts"][0]["figures"]
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = zoo_cli("eval", "ssd-test", "--data", str(empty), "--artifacts", "all")
    assert proc.returncode == 1 and len(proc.stderr.splitlines()) == 1 and "holds neither COCO instances" in proc.stderr
    unknown = zoo_cli("eval", "ssd-test", "--data", str(data), "--artifacts", "cpu-uint8,npu")
    assert unknown.returncode == 1 and "has no artifact 'npu'" in unknown.stderr


@pytest.mark.parametrize("spoil, says", [
    (lambda g: g["annotations"][0].update(bbox="x"), "annotations[0].bbox is 'x', not [x, y, width, height]"),
    (lambda g: g["annotations"][0].update(bbox=[float("nan"), 1, 10, 10]), "annotations[0].bbox x is 'nan'"),
    (lambda g: g["annotations"][0].pop("area"), "KeyError: 'area'"),
    (lambda g: g["annotations"][0].pop("id"), "annotations[0] has id 'None', not an integer"),
    (lambda g: g["annotations"][0].update(category_id=999), "category '999'; the file does not list both"),
    (lambda g: g["annotations"][0].update(iscrowd="yes"), "annotations[0].iscrowd is 'yes', not 0 or 1"),
    (lambda g: g["images"][0].update(width="abc"), "images[0].width is 'abc', not a finite positive number"),
    (lambda g: g["images"][0].update(width=0), "images[0].width is '0', not a finite positive number"),
    (lambda g: g["images"][0].update(file_name="../../outside.jpg"), "file_name '../../outside.jpg' is not a file inside"),
])
def test_bad_coco_instances_are_one_line(ssd, coco, tmp_path, spoil, says):
    """Each was a traceback from pycocotools, or a box silently dropped and the rest scored."""
    photo = sorted((coco / "images" / "val2017").iterdir())[0]
    (tmp_path / "images" / "val2017").mkdir(parents=True)
    (tmp_path / "annotations").mkdir()
    shutil.copyfile(photo, tmp_path / "images" / "val2017" / photo.name)
    shutil.copyfile(photo, tmp_path / "outside.jpg")  # a photo outside the dataset's folders is never read
    gt = {"images": [{"id": 1, "file_name": photo.name, "width": 640, "height": 426}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 100, 200], "area": 20000, "iscrowd": 0}],
          "categories": [{"id": 1, "name": "person"}]}
    spoil(gt)
    (tmp_path / "annotations" / "instances_val2017.json").write_text(json.dumps(gt))
    proc = zoo_cli("eval", "ssd-test", "--data", str(tmp_path), "--split", "val2017")
    assert proc.returncode == 1 and proc.stdout == "" and "Traceback" not in proc.stderr, proc.stderr[-300:]
    (line,) = proc.stderr.splitlines()
    assert "instances_val2017.json is not a COCO instances file zoo can read" in line and says in line


def test_every_file_of_a_classifier_on_the_same_imagenet_samples(shared_mirror, imagenet):
    proc = zoo_cli("eval", "mobilenet-v1-0.5-160", "--data", str(imagenet), "--artifacts", "all", "--limit", "30", "--json")
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    rows = {r["artifact"]: r for r in got["artifacts"]}
    assert got["reference"] == "cpu-uint8" and got["split"] == "val" and got["subset"] == "first 30 images"
    assert "WNID" in got["notes"][0]
    assert rows["edgetpu"]["status"].startswith("needs the device") and rows["imx93"]["status"].startswith("needs the device")
    # the i.MX 8M Plus file is Google's integers with float I/O around them: the same answers, image for image
    assert rows["imx8mp"]["status"] == "ran" and rows["imx8mp"]["agreement"] == 100.0 and rows["imx8mp"]["difference"] == 0
    assert rows["cpu-uint8"]["images"] == rows["imx8mp"]["images"] == 30
    assert 30 <= rows["cpu-uint8"]["figures"]["top-1"] <= rows["cpu-uint8"]["figures"]["top-5"] <= 100
    # the same figure as a direct loop over zoo.load(...).predict on the WNID folders through synsets.txt
    import zoo

    model = zoo.load("mobilenet-v1-0.5-160", target="cpu")
    wnids = [line.split()[1] for line in (imagenet / "synsets.txt").read_text().splitlines()]
    images = [(p, wnids.index(folder.name) + 1) for folder in sorted((imagenet / "val").iterdir())
              for p in sorted(folder.iterdir())][:30]
    top1 = sum(model.predict(p).classes[0].id == truth for p, truth in images)
    assert rows["cpu-uint8"]["figures"]["top-1"] == pytest.approx(100 * top1 / 30)


def test_deeplab_on_cocos_voc_classes_and_the_mapping_is_printed(shared_mirror, coco):
    proc = zoo_cli("eval", "deeplabv3-dm1", "--data", str(coco), "--artifacts", "cpu-uint8", "--limit", "6", "--json")
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert (got["layout"], got["split"], got["metric"]) == ("coco-panoptic", "val2017", "mIoU")
    assert "20 of the model's 21 classes mapped by label name" in got["notes"][0] and "aeroplane=airplane" in got["notes"][0]
    assert "crowd segments and unlabeled pixels ignored" in got["notes"]
    # against the class-index masks (crowd pixels there count as their class), scored the same way
    from zoo.tasks.segmentation import confusion, scores

    import zoo

    model = zoo.load("deeplabv3-dm1", target="cpu")
    names = yaml.safe_load((coco / "semantic" / "config.yaml").read_text())["classes"]
    by_name = {"airplane": "aeroplane", "dining table": "diningtable", "motorcycle": "motorbike",
               "potted plant": "pottedplant", "couch": "sofa", "tv": "tvmonitor"}
    labels = model.manifest.labels
    lut = np.zeros(256, np.uint8)
    for cid, name in names.items():
        lut[cid] = labels.index(by_name.get(name, name)) if by_name.get(name, name) in labels else 0
    lut[0] = 255
    matrix = np.zeros((21, 21), np.int64)
    masks = sorted((coco / "semantic" / "masks" / "val2017").iterdir())[:6]
    for mask in masks:
        truth = lut[np.asarray(Image.open(mask))]
        matrix += confusion(truth, model.predict(coco / "images" / "val2017" / f"{mask.stem}.jpg").mask, 21, 255)
    direct = scores(matrix, labels)["mIoU"]
    semantic = json.loads(zoo_cli("eval", "deeplabv3-dm1", "--data", str(coco / "semantic"), "--limit", "6",
                                  "-t", "cpu", "--json").stdout)
    assert semantic["layout"] == "class-masks" and semantic["mIoU"] == pytest.approx(direct, abs=1e-3)


def test_a_person_model_scores_person_iou(shared_mirror, coco):
    proc = zoo_cli("eval", "selfie-segmentation", "--data", str(coco), "--artifacts", "cpu", "--limit", "10", "--json")
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    row = got["artifacts"][0]
    assert got["metric"] == "person IoU" and row["value"] == row["figures"]["per_class_iou"]["person"] > 10


def test_no_ground_truth_means_agreement_only_and_nothing_recorded(shared_mirror, coco, tmp_path):
    proc = zoo_cli("eval", "face-detection-short-range", "--data", str(coco), "--split", "val2017", "--artifacts", "cpu",
                   "--limit", "3", "--json")
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["metric"] is None and "no ground truth" in got["no_metric"] and got["artifacts"][0]["value"] is None
    rec = zoo_cli("eval", "face-detection-short-range", "--data", str(coco), "--split", "val2017", "--artifacts", "cpu",
                  "--limit", "3", "--record")
    assert rec.returncode == 1 and "nothing to record: the dataset has no class of this model (face)" in rec.stderr


def test_record_writes_measured_figures_with_their_provenance_and_replaces_its_own(ssd, coco):
    args = ("eval", "ssd-test", "--data", str(coco), "--split", "val2017", "--limit", "8", "--artifacts", "all")
    small = zoo_cli(*args, "--record")
    assert small.returncode == 1 and "is not recorded (the minimum is 100)" in small.stderr
    assert "measured" not in ssd.read_text()
    for _ in range(2):  # recording the same command twice leaves one figure of each
        proc = zoo_cli(*args, "--record", "--allow-small", "--json")
        assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)["artifacts"][0]["figures"]
    m = catalog.load().get("ssd-test")
    measured = {x.name: x for x in m.metrics if x.source == "measured"}
    assert sorted(measured) == ["AP50", "mAP"] and len(m.metrics) == 2
    x = measured["mAP"]
    assert (x.value, x.dataset, x.split, x.subset, x.images, x.applies_to) == (
        round(got["mAP"], 2), "coco-val2017-128", "val2017", "first 8 images", 8, "cpu-uint8")
    assert x.command == "zoo " + " ".join(args[:-2] + ("--artifacts", "all", "--record", "--allow-small", "--json"))
    assert set(x.tools) == {"zoo", "ai-edge-litert", "pycocotools"} and "8 images of coco-val2017-128" in x.caveat
    listed = zoo_cli("list").stdout
    assert f"mAP {got['mAP']:.1f} (cpu-uint8), 8 img" in listed
    info = zoo_cli("info", "ssd-test").stdout
    assert f"mAP {round(got['mAP'], 2):g}% on coco-val2017-128 val2017 (first 8 images), cpu-uint8, measured" in info
    assert "caveat: 8 images of coco-val2017-128 (first 8 images): compares this model's files" in info
    from zoo.card import render

    card = render(m)
    assert "| first 8 images | cpu-uint8 | measured" in card and "Caveat (measured figures): 8 images" in card


def test_a_recorded_command_gives_the_recorded_figure(shared_mirror, imagenet):
    """The bundled manifest's measured figures re-measured by running their own command from the repository."""
    m = catalog.load().get("mobilenet-v1-0.5-160")
    recorded = [x for x in m.metrics if x.source == "measured"]
    assert {x.applies_to for x in recorded} == {"cpu-uint8", "imx8mp"} and {x.name for x in recorded} == {"top-1", "top-5"}
    (command,) = {x.command for x in recorded}
    args = command.split()
    assert args[:2] == ["zoo", "eval"] and "--record" in args
    proc = zoo_cli(*[a for a in args[1:] if a != "--record"], "--json", cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    rows = {r["artifact"]: r for r in json.loads(proc.stdout)["artifacts"]}
    for x in recorded:
        assert round(rows[x.applies_to]["figures"][x.name], 2) == x.value and rows[x.applies_to]["images"] == x.images == 250


def test_bad_masks_are_one_line(coral, coco, tmp_path):
    root = tmp_path / "set"
    (root / "images" / "val").mkdir(parents=True)
    (root / "masks" / "val").mkdir(parents=True)
    (root / "config.yaml").write_text("classes: {0: unlabeled, 1: person, 2: bicycle, 3: toaster}\n"
                                      "val: {images: images/val, masks: masks/val}\n")
    photos = sorted((coco / "images" / "val2017").iterdir())[:2]
    for photo in photos:
        shutil.copyfile(photo, root / "images" / "val" / photo.name)
    w, h = Image.open(photos[0]).size
    Image.fromarray(np.full((h, w), 1, np.uint8)).save(root / "masks" / "val" / f"{photos[0].stem}.png")
    (root / "masks" / "val" / f"{photos[1].stem}.png").write_text("not a mask")
    model = str(coral / "deeplabv3_mnv2_dm05_pascal_quant.tflite")
    unreadable = zoo_cli("eval", model, "--data", str(root))
    assert unreadable.returncode == 1 and len(unreadable.stderr.strip().splitlines()) == 2  # the file's match, the error
    assert f"{photos[1].stem}.png is not an image zoo can read" in unreadable.stderr.splitlines()[-1]
    w1, h1 = Image.open(photos[1]).size
    Image.fromarray(np.full((h1, w1), 2, np.uint8)).save(root / "masks" / "val" / f"{photos[1].stem}.png")
    proc = zoo_cli("eval", model, "--data", str(root), "--json")
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["layout"] == "class-masks" and got["split"] == "val" and got["artifacts"][0]["images"] == got["images"] == 2
    assert "2 of the model's 21 classes mapped by label name to the dataset's 4: bicycle, person" in got["notes"][0]
    assert set(got["per_class_iou"]) == set(catalog.load().get("deeplabv3").labels)
    Image.fromarray(np.full((h // 2, w), 1, np.uint8)).save(root / "masks" / "val" / f"{photos[1].stem}.png")
    bad = zoo_cli("eval", model, "--data", str(root))
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 2  # the file's match, the error
    assert f"{photos[1].stem}.png is {w}x{h // 2} but" in bad.stderr.splitlines()[-1] and "Traceback" not in bad.stderr
    for spoilt, says in ((np.full((h1, w1, 3), 1, np.uint8), "is a RGB image, not a class-index mask"),
                         (np.full((h1, w1), True), "is a 1 image, not a class-index mask"),
                         (np.full((h1, w1), 1000, np.uint16), "holds class id 1000; zoo reads ids 0-255")):
        Image.fromarray(spoilt).save(root / "masks" / "val" / f"{photos[1].stem}.png")
        odd = zoo_cli("eval", model, "--data", str(root))
        assert odd.returncode == 1 and odd.stdout == "" and "Traceback" not in odd.stderr, odd.stdout
        assert f"{photos[1].stem}.png {says}" in odd.stderr.splitlines()[-1]
    Image.fromarray(np.full((h1, w1), 2, np.uint16)).save(root / "masks" / "val" / f"{photos[1].stem}.png")
    assert zoo_cli("eval", model, "--data", str(root)).returncode == 0  # 16-bit ids below 256 are read as they are


@pytest.mark.parametrize("spoil, says", [
    (lambda g: g["annotations"][0]["segments_info"][0].update(category_id=99999), "(category 99999) has an id outside"),
    (lambda g: g["annotations"][0]["segments_info"][0].update(id=-1), "segment -1 (category"),
    (lambda g: g["categories"].append({"id": 10**9, "name": "huge"}), "the dataset's class id 1000000000 is outside 0-65535"),
    (lambda g: g["annotations"][0].update(file_name="../../../x.png"), "is not a file inside"),
])
def test_bad_coco_panoptic_is_one_line(coral, coco, tmp_path, spoil, says):
    """An unlisted category or a negative segment id was a traceback; a huge category id a table of gigabytes."""
    gt = json.loads((coco / "panoptic" / "annotations" / "panoptic_val2017.json").read_text())
    gt["annotations"] = gt["annotations"][:1]
    gt["images"] = [i for i in gt["images"] if i["id"] == gt["annotations"][0]["image_id"]]
    (tmp_path / "panoptic" / "annotations" / "panoptic_val2017").mkdir(parents=True)
    (tmp_path / "images" / "val2017").mkdir(parents=True)
    png = gt["annotations"][0]["file_name"]
    shutil.copyfile(coco / "panoptic" / "annotations" / "panoptic_val2017" / png,
                    tmp_path / "panoptic" / "annotations" / "panoptic_val2017" / png)
    shutil.copyfile(coco / "images" / "val2017" / gt["images"][0]["file_name"], tmp_path / "images" / "val2017" / gt["images"][0]["file_name"])
    spoil(gt)
    (tmp_path / "panoptic" / "annotations" / "panoptic_val2017.json").write_text(json.dumps(gt))
    proc = zoo_cli("eval", str(coral / "deeplabv3_mnv2_dm05_pascal_quant.tflite"), "--data", str(tmp_path), "--split", "val2017")
    assert proc.returncode == 1 and proc.stdout == "" and "Traceback" not in proc.stderr, proc.stderr[-300:]
    assert says in proc.stderr.splitlines()[-1]


def test_imagenet_wnid_folders_map_through_synsets(tmp_path):
    from zoo.tasks.classification import image_folder, synsets

    (tmp_path / "synsets.txt").write_text("0 n01 tench\n1 n02 goldfish\n")
    for wnid in ("n02", "n01"):
        (tmp_path / "val" / wnid).mkdir(parents=True)
        (tmp_path / "val" / wnid / "a.JPEG").write_bytes(b"")
    items, notes = image_folder(tmp_path / "val", ["background", "tench", "goldfish"], synsets(tmp_path))
    assert [(p.parent.name, t) for p, t in items] == [("n01", 1), ("n02", 2)]
    assert notes == ["class folders named by WNID (WNIDs by their line in the synsets list: class id = line + 1)"]
    items, _ = image_folder(tmp_path / "val", ["tench", "goldfish"], synsets(tmp_path))
    assert [t for _, t in items] == [0, 1]
    (tmp_path / "val" / "n99").mkdir()
    with pytest.raises(Exception, match="nor by a WNID of its synsets list"):
        image_folder(tmp_path / "val", ["tench", "goldfish"], synsets(tmp_path))
