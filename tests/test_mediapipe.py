"""MediaPipe's float models end to end through the command line, against outputs MediaPipe's own runtime computed
(../shared/testdata/mediapipe): the wheel's members fetched from a loopback copy of the wheel, predictions within the
issue's bounds for the float and the int8 files, `zoo build` reproducing every pinned byte, and the whole walk from a
build to a published mirror to a fresh cache to a prediction."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

pytest.importorskip("ai_edge_litert", reason="the run extra (ai-edge-litert) is not installed")
from PIL import Image  # noqa: E402

from conftest import REPO, SHARED  # noqa: E402  (tests/ is on sys.path)

MEDIAPIPE = SHARED / "mediapipe"
FACE, SELFIE = "face-detection-short-range", "selfie-segmentation"
FULL_RANGE, LANDSCAPE = "face-detection-full-range", "selfie-segmentation-landscape"
MEMBERS = {"face_detection_short_range.tflite": "mediapipe/modules/face_detection/face_detection_short_range.tflite",
           "selfie_segmentation.tflite": "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
           "face_detection_full_range_sparse.tflite": "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite",
           "selfie_segmentation_landscape.tflite": "mediapipe/modules/selfie_segmentation/selfie_segmentation_landscape.tflite"}
WHEEL = "mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
IMAGES = {"bird.bmp": "coral", "bird_segmentation.bmp": "coral", "cat.bmp": "coral-tasks", "squat.bmp": "coral-tasks",
          "grace_hopper.bmp": "mediapipe"}


def zoo_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, timeout=600, env=os.environ)


@pytest.fixture(scope="session")
def mediapipe(coral, coral_tasks) -> Path:
    if not (MEDIAPIPE / "SHA256SUMS").is_file():
        pytest.skip(f"MediaPipe's files are not at {MEDIAPIPE} (../shared is absent)")
    return MEDIAPIPE


def write_wheel(path: Path, members: dict[str, bytes]) -> dict:
    """A zip like the wheel holding `members` (path in the archive -> bytes), and the pin of the zip itself."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("mediapipe/__init__.py", "")
        for name, data in members.items():
            z.writestr(name, data)
    data = path.read_bytes()
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def real_members() -> dict[str, bytes]:
    return {member: (MEDIAPIPE / file).read_bytes() for file, member in MEMBERS.items()}


@pytest.fixture
def wheel(mediapipe, tmp_path, monkeypatch):
    """The bundled MediaPipe manifests in a user folder, their wheel's pin replaced by that of a loopback copy of the
    wheel holding MediaPipe's real member bytes, and every upstream (the wheel, the calibration images) served from
    127.0.0.1; an empty cache, no mirrors."""
    from loopback import StaticServer

    site = tmp_path / "site"
    site.mkdir()
    pin = write_wheel(site / WHEEL, real_members())
    for name, folder in IMAGES.items():
        (site / name).symlink_to(SHARED / folder / name)
    folder = tmp_path / "manifests"
    folder.mkdir()
    with StaticServer(site) as server:
        for name in (FACE, SELFIE, FULL_RANGE, LANDSCAPE):
            doc = yaml.safe_load((REPO / "manifests" / f"{name}.yaml").read_text())
            for up in doc["upstream"]:
                if up.get("sources"):
                    up["sources"] = [f"{server.base}/{up['file']}"]
                if up["id"] == "mediapipe-wheel":
                    up.update(pin)
            (folder / f"{name}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        monkeypatch.setenv("ZOO_MANIFESTS", str(folder))
        monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
        for name in ("ZOO_MIRRORS", "ZOO_OFFLINE", "ZOO_TARGET"):
            monkeypatch.delenv(name, raising=False)
        yield SimpleNamespace(server=server, site=site, folder=folder, pin=pin)


def face_reference() -> dict:
    return json.loads((MEDIAPIPE / "face_detection_short_range_reference.json").read_text())["grace_hopper.bmp"]["detections"][0]


def box_iou(a: dict, b: dict) -> float:
    w = max(0.0, min(a["xmax"], b["xmax"]) - max(a["xmin"], b["xmin"]))
    h = max(0.0, min(a["ymax"], b["ymax"]) - max(a["ymin"], b["ymin"]))
    area = lambda x: (x["xmax"] - x["xmin"]) * (x["ymax"] - x["ymin"])  # noqa: E731
    return w * h / (area(a) + area(b) - w * h)


def assert_matches_mediapipes_face(model: str) -> dict:
    """`zoo predict MODEL grace_hopper.bmp --json` finds one face: box IoU >= 0.9 with MediaPipe's, each keypoint
    within 0.02 of MediaPipe's (fractions of the image)."""
    proc = zoo_cli("predict", model, str(MEDIAPIPE / "grace_hopper.bmp"), "--json")
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["task"] == "object-detection" and len(got["detections"]) == 1, got
    face, ref = got["detections"][0], face_reference()
    expected = {"xmin": ref["xmin"], "ymin": ref["ymin"], "xmax": ref["xmin"] + ref["width"],
                "ymax": ref["ymin"] + ref["height"]}
    assert face["label"] == "face" and box_iou(face["box"], expected) >= 0.9
    assert [k["name"] for k in face["keypoints"]] == ["right_eye", "left_eye", "nose_tip", "mouth", "right_ear_tragion",
                                                      "left_ear_tragion"]
    far = max(max(abs(k["x"] - x), abs(k["y"] - y)) for k, (x, y) in zip(face["keypoints"], ref["keypoints"]))
    assert far <= 0.02, far
    return face


def selfie_iou(model: str, out: Path) -> float:
    """`zoo predict MODEL squat.bmp -o OUT_mask.png`: the person region (ids 1, at the image's size) against MediaPipe's
    reference mask above 0.5."""
    proc = zoo_cli("predict", model, str(SHARED / "coral-tasks" / "squat.bmp"), "-o", str(out / "squat_mask.png"))
    assert proc.returncode == 0, proc.stderr
    ids = np.asarray(Image.open(out / "squat_ids.png")) == 1
    ref = np.load(MEDIAPIPE / "selfie_segmentation_reference_squat.npy") > 0.5
    assert ids.shape == ref.shape == (610, 500)
    return float((ids & ref).sum() / (ids | ref).sum())


def test_fetch_takes_the_member_out_of_the_wheel_verifies_it_and_then_works_offline(wheel, tmp_path):
    for name, file in ((FACE, "face_detection_short_range.tflite"), (SELFIE, "selfie_segmentation.tflite")):
        proc = zoo_cli("fetch", name, "--target", "cpu", "--json")
        assert proc.returncode == 0, proc.stderr
        got = json.loads(proc.stdout)
        assert (got["artifact"], Path(got["path"]).read_bytes()) == ("cpu", (MEDIAPIPE / file).read_bytes())
        assert f"extracting {file} from {WHEEL}" in proc.stderr
        offline = zoo_cli("fetch", name, "--target", "cpu", "--offline")
        assert offline.returncode == 0 and offline.stdout.strip() == got["path"]
    # the wheel was downloaded once, verified against its pin and kept: the second model's member came from it
    assert wheel.server.requests.count(f"/{WHEEL}") == 1


def test_offline_takes_a_member_out_of_an_archive_already_cached(wheel, tmp_path):
    """The wheel came with the face model; the selfie model is in it too, so --offline extracts it (no request)."""
    assert zoo_cli("fetch", FACE, "--target", "cpu").returncode == 0
    before = list(wheel.server.requests)
    proc = zoo_cli("fetch", SELFIE, "--target", "cpu", "--offline")
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()).read_bytes() == (MEDIAPIPE / "selfie_segmentation.tflite").read_bytes()
    assert f"extracting selfie_segmentation.tflite from {WHEEL}" in proc.stderr and wheel.server.requests == before


@pytest.mark.parametrize(("change", "said"), [
    (lambda data: data[:100] + bytes([data[100] ^ 1]) + data[101:], "sha256"),  # one bit: the member's own pin
    (lambda data: data + b"\0" * 4096, "is 233,810 bytes, more than the 229,714 expected"),  # read no further
])
def test_a_pinned_wheel_whose_member_is_not_the_pinned_one_is_refused_and_nothing_is_kept(wheel, tmp_path, change, said):
    members = real_members()
    face = MEMBERS["face_detection_short_range.tflite"]
    members[face] = change(members[face])
    pin = write_wheel(wheel.site / WHEEL, members)  # the server now sends this zip, and the manifest pins it
    doc = yaml.safe_load((wheel.folder / f"{FACE}.yaml").read_text())
    next(u for u in doc["upstream"] if u["id"] == "mediapipe-wheel").update(pin)
    (wheel.folder / f"{FACE}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    proc = zoo_cli("fetch", FACE, "--target", "cpu")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "face_detection_short_range.tflite" in proc.stderr and said in proc.stderr
    assert not list((tmp_path / "cache").glob("models/*/cpu/*.tflite"))


def test_a_wheel_that_is_not_the_pinned_one_is_never_opened(wheel, tmp_path):
    write_wheel(wheel.site / WHEEL, {**real_members(), "extra": b"x"})  # other bytes than the manifest pins
    proc = zoo_cli("fetch", SELFIE, "--target", "cpu")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and WHEEL in proc.stderr
    assert "extracting" not in proc.stderr


def test_the_float_models_match_mediapipes_own_outputs(wheel, tmp_path):
    face = assert_matches_mediapipes_face(FACE)
    assert abs(face["score"] - face_reference()["score"]) < 0.01  # measured: 0.9359 here, 0.9359 by MediaPipe
    assert selfie_iou(SELFIE, tmp_path) >= 0.95  # measured: 0.9996
    drawn = zoo_cli("predict", FACE, str(MEDIAPIPE / "grace_hopper.bmp"), "-o", str(tmp_path / "faces.png"))
    assert drawn.returncode == 0, drawn.stderr
    picture = Image.open(tmp_path / "faces.png").convert("RGB")
    assert picture.size == (512, 600)
    box = face["box"]
    top = (round((box["xmin"] + box["xmax"]) / 2 * 512), round(box["ymin"] * 600))
    assert picture.getpixel(top) == (255, 64, 64)  # the box's top edge, drawn where the face is


def test_build_reproduces_every_pin_and_the_int8_files_match_mediapipe(wheel, tmp_path):
    """`zoo build` makes each int8 file (per-channel for the CPU, and the i.MX 8M Plus file) and each Vela file from
    the fetched float model with the bytes the manifest pins; the int8 files stay within the issue's bounds of
    MediaPipe's outputs, found in the catalog by their sha256."""
    out = tmp_path / "build"
    for name in (FACE, SELFIE):
        proc = zoo_cli("build", name, "-t", "cpu", "-t", "imx8mp", "-t", "imx93", "--check", "--out", str(out), "--json")
        assert proc.returncode == 0, proc.stderr
        built = {b["artifact"]: b for b in json.loads(proc.stdout)}
        assert set(built) == {"cpu-int8", "imx8mp", "imx93"}
        for b in built.values():
            assert {"name": "same-bytes", "passed": True, "detail": "identical bytes to the pinned file"} in b["checks"]
        record = json.loads(Path(built["cpu-int8"]["record"]).read_text())
        assert [c["file"] for c in record["compile"]["calibration"]] == (
            ["bird.bmp", "bird_segmentation.bmp", "cat.bmp", "squat.bmp"] if name == FACE else
            ["bird.bmp", "bird_segmentation.bmp", "cat.bmp", "grace_hopper.bmp"])
        assert all(len(c["sha256"]) == 64 for c in record["compile"]["calibration"])
        assert min(record["compile"]["cosine_similarity"].values()) >= 0.9
    face = assert_matches_mediapipes_face(str(out / "face_detection_short_range_int8.tflite"))
    assert face["score"] >= 0.9  # calibrated with crops: 0.949 (0.667 without, see test_quantize)
    assert selfie_iou(str(out / "selfie_segmentation_int8.tflite"), tmp_path) >= 0.95  # measured: 0.970


def test_a_rebuild_that_misses_its_pin_names_what_differs_from_the_pins_build(wheel):
    """A fetch that rebuilds an unhosted file and gets other bytes names the versions, options and calibration digests
    that differ from the record the pin was made with (here a planted numpy version and ranges digest), and the tool
    once ("ai-edge-quantizer 0.10.0", not "ai-edge-quantizer ai-edge-quantizer 0.10.0")."""
    path = wheel.folder / f"{FACE}.yaml"
    doc = yaml.safe_load(path.read_text())
    a = next(a for a in doc["artifacts"] if a["id"] == "cpu-int8")
    a["sha256"], a["compile_stats"]["versions"]["numpy"], a["compile_stats"]["ranges"]["sha256"] = "0" * 64, "1.0.0", "f" * 64
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    proc = zoo_cli("fetch", f"{FACE}/cpu-int8")
    assert proc.returncode == 1
    assert "rebuilt with ai-edge-quantizer 0.10.0" in proc.stderr and "ai-edge-quantizer ai-edge-quantizer" not in proc.stderr
    assert f"versions.numpy {np.__version__} here, 1.0.0 in the pin" in proc.stderr
    assert f"{'f' * 64} in the pin" in proc.stderr


def test_the_npu_reports_say_what_stays_on_the_cpu_and_why(wheel):
    from zoo import catalog

    selfie = catalog.load().get(SELFIE)
    npu = selfie.artifact("imx8mp").compile_stats["npu"]
    assert npu["cpu_operators"] == [{"op": "Convolution2DTransposeBias", "output": "segment",
                                     "reason": "custom operator 'Convolution2DTransposeBias' is not the delegate's"}]
    face = catalog.load().get(FACE)
    assert face.artifact("imx8mp").compile_stats["npu"]["cpu_ops"] == 0
    assert face.artifact("imx8mp").compile_stats["npu"]["per_channel"] == 0
    vela = face.artifact("imx93").compile_stats
    assert {o["op"] for o in vela["cpu_operators"]} == {"QUANTIZE", "DEQUANTIZE"} and vela["npu_ops"] > 90


def test_the_walk_build_publish_fetch_from_a_fresh_cache_and_predict(wheel, tmp_path, monkeypatch):
    """A team's way to the int8 file: build it, publish the build to a static mirror with --record, and any machine
    with a fresh cache fetches it by NAME/ARTIFACT and predicts with it."""
    from loopback import StaticServer

    out, mirror = tmp_path / "build", tmp_path / "mirror"
    assert zoo_cli("build", FACE, "-t", "cpu", "--out", str(out)).returncode == 0
    with StaticServer(mirror.parent) as site:
        published = zoo_cli("publish", FACE, "--from", str(out), "--to", str(mirror), "--url", f"{site.base}/mirror",
                            "--record")
        assert published.returncode == 0, published.stderr
        doc = yaml.safe_load((wheel.folder / f"{FACE}.yaml").read_text())
        int8 = next(a for a in doc["artifacts"] if a["id"] == "cpu-int8")
        assert int8["sources"][0].startswith(site.base) and "unpublished" not in int8
        monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "fresh"))
        fetched = zoo_cli("fetch", f"{FACE}/cpu-int8", "--json")
        assert fetched.returncode == 0, fetched.stderr
        got = json.loads(fetched.stdout)
        assert (got["artifact"], got["sha256"]) == ("cpu-int8", int8["sha256"]) and "compiling" not in fetched.stderr
        assert_matches_mediapipes_face(f"{FACE}/cpu-int8")


def test_without_the_quantize_extra_a_build_says_what_to_install_before_any_download(wheel):
    code = ("import sys\nsys.modules['ai_edge_quantizer'] = None  # as if the quantize extra were not installed\n"
            f"sys.argv = ['zoo', 'build', '{FACE}', '--target', 'imx93']\nfrom zoo.entry import main\nmain()\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=os.environ)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: build step 'compiler' failed: ai-edge-quantizer is not installed (pip install '.[quantize]' in zoo's "
        "checkout (the quantize extra of edge-model-zoo): Google's ai-edge-quantizer at the version zoo pins, no "
        "TensorFlow needed)")
    assert wheel.server.requests == []


def test_full_range_and_landscape_match_mediapipes_own_outputs(wheel, tmp_path):
    """The wheel's other two members: MediaPipe's faces on three photos (1, 4 and 1: same count, box IoU >= 0.9,
    score within 0.01, keypoints within 0.01) and its landscape masks on two (IoU >= 0.99 above 0.5)."""
    photos = {"grace_hopper.bmp": MEDIAPIPE / "grace_hopper.bmp", "faceDet_test.jpg": SHARED / "nxp-eiq" / "faceDet" / "test.jpg",
              "squat.bmp": SHARED / "coral-tasks" / "squat.bmp"}
    reference = json.loads((MEDIAPIPE / "face_detection_full_range_reference.json").read_text())
    for key, want in reference.items():
        proc = zoo_cli("predict", FULL_RANGE, str(photos[key.split(":", 1)[1]]), "--json")
        assert proc.returncode == 0, proc.stderr
        got = sorted(json.loads(proc.stdout)["detections"], key=lambda d: -d["score"])
        assert len(got) == len(want["detections"]), key
        for d, e in zip(got, want["detections"]):
            box = {"xmin": e["xmin"], "ymin": e["ymin"], "xmax": e["xmin"] + e["width"], "ymax": e["ymin"] + e["height"]}
            far = max(max(abs(k["x"] - x), abs(k["y"] - y)) for k, (x, y) in zip(d["keypoints"], e["keypoints"]))
            # measured: scores within 0.006, IoU 0.92-0.997 (squat.bmp's is 0.922), keypoints within 0.004
            assert abs(d["score"] - e["score"]) <= 0.01 and box_iou(d["box"], box) >= 0.9 and far <= 0.01, (key, d, e)
    for photo in ("squat.bmp", "grace_hopper.bmp"):
        proc = zoo_cli("predict", LANDSCAPE, str(photos[photo]), "-o", str(tmp_path / f"{photo}_mask.png"))
        assert proc.returncode == 0, proc.stderr
        ids = np.asarray(Image.open(tmp_path / f"{photo}_ids.png")) == 1
        ref = np.load(MEDIAPIPE / f"selfie_segmentation_landscape_reference_{photo.split('.')[0]}.npy") > 0.5
        assert ids.shape == ref.shape and (ids & ref).sum() / (ids | ref).sum() >= 0.99  # measured 0.9994, 0.9995


def test_a_build_checks_a_landscape_input_at_its_own_size():
    from zoo import catalog
    from zoo.convert.check import expected_shapes

    m = catalog.load(extra=[]).get(LANDSCAPE)
    assert expected_shapes(m, m.artifact("cpu"), 144) == ([[1, 144, 256, 3]], [[1, 144, 256, 1]])  # was 144 x 144


def test_a_missing_calibration_image_fails_the_calibration_step_not_the_parent(mediapipe, tmp_path, monkeypatch):
    """The parent (MediaPipe's float file) is cached, a calibration image is not and zoo is offline: the one line
    names the step that failed."""
    from loopback import StaticServer

    (tmp_path / "mirror" / FACE).mkdir(parents=True)
    (tmp_path / "mirror" / FACE / "face_detection_short_range.tflite").write_bytes(
        (MEDIAPIPE / "face_detection_short_range.tflite").read_bytes())
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ZOO_OFFLINE", raising=False)
    with StaticServer(tmp_path / "mirror") as server:
        monkeypatch.setenv("ZOO_MIRRORS", server.base)
        assert zoo_cli("fetch", f"{FACE}/cpu", "-q").returncode == 0
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    proc = zoo_cli("build", FACE, "--target", "cpu", "-o", str(tmp_path / "out"))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: build step 'calibration' failed: {FACE}/bird (bird.bmp) is not in the cache"), line
