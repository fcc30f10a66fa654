"""Object detection: MediaPipe's SSD anchors, raw decoding, weighted non-max suppression, the post-processed form
(TFLite_Detection_PostProcess) and the letterbox undone; choosing one artifact by NAME/ARTIFACT."""

from __future__ import annotations

import numpy as np
import pytest

from zoo import manifest
from zoo.choice import pick
from zoo.errors import ArtifactUnavailable
from zoo.preprocess import Prepared
from zoo.tasks import get_task
from zoo.tasks.base import Context
from zoo.tasks.detection import Anchors, Box, Detection, Head, anchors, postprocessed, raw_detections, suppress

BLAZEFACE = Anchors(num_layers=4, min_scale=0.1484375, max_scale=0.75, input_size=[128, 128], strides=[8, 16, 16, 16])


def test_blazeface_anchors_are_mediapipes_896():
    """face_detection_short_range.pbtxt: 896 anchors; stride 8 gives 16x16 cells of 2 anchors, the three stride-16
    layers share 8x8 cells of 6 (each layer's scale plus its interpolated one), fixed size 1."""
    grid = anchors(BLAZEFACE)
    assert len(grid) == 896 == 16 * 16 * 2 + 8 * 8 * 6
    assert grid[0] == grid[1] == (0.5 / 16, 0.5 / 16, 1.0, 1.0)
    assert grid[2] == (1.5 / 16, 0.5 / 16, 1.0, 1.0) and grid[511] == (15.5 / 16, 15.5 / 16, 1.0, 1.0)
    assert grid[512:518] == [(0.5 / 8, 0.5 / 8, 1.0, 1.0)] * 6 and grid[-1] == (7.5 / 8, 7.5 / 8, 1.0, 1.0)


def head(**changes) -> Head:
    return Head(**{"labels": ["face"], "keypoints": ["eye"], "anchors": BLAZEFACE, "box_scale": [128.0] * 4,
                   "score_clip": 100.0, **changes})


def test_raw_outputs_decode_relative_to_their_anchor_in_input_pixels():
    boxes, logits = np.zeros((896, 6), np.float32), np.full((896, 1), -50.0, np.float32)
    boxes[2] = [12.8, -6.4, 32.0, 64.0, 6.4, 0.0]  # centre offset (0.1, -0.05), size (0.25, 0.5), the eye at +0.05
    logits[2] = 1e6  # clipped to 100 before the sigmoid: no overflow
    with np.errstate(all="raise"):
        (d,) = raw_detections([boxes, logits], head())
    cx, cy = 1.5 / 16 + 0.1, 0.5 / 16 - 0.05
    assert d.label == "face" and d.score == 1.0
    assert np.allclose([d.box.xmin, d.box.ymin, d.box.xmax, d.box.ymax], [cx - 0.125, cy - 0.25, cx + 0.125, cy + 0.25])
    assert d.keypoints == (("eye", pytest.approx(1.5 / 16 + 0.05), pytest.approx(0.5 / 16)),)
    assert raw_detections([boxes, np.full((896, 1), -50.0, np.float32)], head()) == []


def test_weighted_suppression_averages_a_cluster_by_score_and_standard_keeps_the_best():
    a = Detection("face", 0.9, Box(0.0, 0.0, 1.0, 1.0), (("eye", 0.2, 0.2),))
    b = Detection("face", 0.6, Box(0.1, 0.1, 1.1, 1.1), (("eye", 0.7, 0.7),))
    far = Detection("face", 0.8, Box(2.0, 2.0, 3.0, 3.0), (("eye", 2.5, 2.5),))
    weighted = suppress([b, far, a], head())
    assert [d.score for d in weighted] == [0.9, 0.8]
    assert weighted[0].box.xmin == pytest.approx(0.04) and weighted[0].keypoints[0][1] == pytest.approx(0.4)
    assert suppress([b, far, a], head(nms="standard")) == [a, far]


def test_the_post_processed_form_reads_boxes_classes_scores_and_count_with_the_label_offset():
    h = Head(labels=["???", "person", "bicycle"], label_offset=1, min_score=0.5)
    boxes = np.array([[[0.1, 0.2, 0.5, 0.6], [0.0, 0.0, 1.0, 1.0], [0.3, 0.3, 0.4, 0.4], [0, 0, 0, 0]]], np.float32)
    classes, scores = np.array([[0, 1, 5, 0]], np.float32), np.array([[0.9, 0.4, 0.7, 0.99]], np.float32)
    found = postprocessed([boxes[0], classes[0], scores[0], np.array([3.0])], h)
    assert [(d.label, d.score) for d in found] == [("person", pytest.approx(0.9)), ("6", pytest.approx(0.7))]
    assert found[0].box == Box(pytest.approx(0.2), pytest.approx(0.1), pytest.approx(0.6), pytest.approx(0.5))


def test_the_letterbox_is_undone_on_the_way_out():
    """A 200x100 image letterboxed into 128x128 lies in rows 32..96: a box over the whole image region is the image."""
    prepared = Prepared(np.zeros((128, 128, 3), np.float32), (200, 100), (0.0, 32.0, 128.0, 64.0))
    boxes, logits = np.zeros((896, 6), np.float32), np.full((896, 1), -50.0, np.float32)
    boxes[0] = [64 - 4, 64 - 4, 128, 64, 64 - 4, 32 - 4]  # centred on the input, as wide as it, half as tall
    logits[0] = 5.0
    ctx = Context(head(), [type("O", (), {"kind": "box-regressors"})()], ["face"], "cpu")
    (d,) = get_task("object-detection").decode([boxes, logits], prepared, ctx).detections
    assert [round(v, 6) for v in vars(d.box).values()] == [0.0, 0.0, 1.0, 1.0]
    assert d.keypoints[0][1:] == (pytest.approx(0.5), pytest.approx(0.0))


def test_the_head_must_fit_the_outputs(minimal):
    minimal.update(task="object-detection", head={"labels": ["face"], "keypoints": ["eye"], "anchors": BLAZEFACE.model_dump()},
                   outputs=[{"shape": [1, 895, 6], "kind": "box-regressors"}, {"shape": [1, 895, 1], "kind": "box-scores"}])
    with pytest.raises(Exception, match="895 boxes, but head.anchors make 896"):
        manifest.parse(minimal, "m.yaml")
    minimal["outputs"][0]["shape"] = [1, 896, 8]
    minimal["outputs"][1]["shape"] = [1, 896, 1]
    with pytest.raises(Exception, match="8 values a box, but 4 \\+ 2 x 1 keypoints make 6"):
        manifest.parse(minimal, "m.yaml")


def quantized_model(minimal, **quantize):
    minimal["upstream"] = [{"id": "cat", "kind": "image", "file": "cat.bmp", "sha256": "c" * 64,
                            "sources": ["https://e.invalid/cat.bmp"]},
                           {"id": "dog", "kind": "image", "file": "dog.bmp", "sha256": "d" * 64,
                            "sources": ["https://e.invalid/dog.bmp"]}]
    minimal["artifacts"].append({**minimal["artifacts"][0], "id": "int8", "file": "int8.tflite", "parent": "cpu-int8",
                                 "build": True, "sources": [], "unpublished": "built here", "sha256": "e" * 64,
                                 "quantize": {"granularity": "per-tensor", "calibration": ["cat"], "holdout": ["dog"],
                                              "min_agreement": 0.9, **quantize}})
    minimal["artifacts"][0]["default"] = True
    return manifest.parse(minimal, "m.yaml")


@pytest.mark.parametrize(("quantize", "message"), [
    ({"calibration": ["cow"]}, "'cow' is not an image upstream pinned by sha256; known: cat, dog"),
    ({"holdout": ["cat"]}, "the holdout images must not be calibration images"),
])
def test_quantize_names_pinned_images_and_holds_some_out(minimal, quantize, message):
    with pytest.raises(Exception, match=message):
        quantized_model(minimal, **quantize)


def test_name_slash_artifact_picks_one_artifact_or_says_why_not(minimal):
    m = quantized_model(minimal)
    assert pick(m, "cpu-int8", "auto", frozenset()).artifact.id == "cpu-int8"
    assert pick(m, "int8", "auto", frozenset({"int8"})).reasons == [
        "artifact 'int8' was requested; it is not hosted but is built from 'cpu-int8' and verified against its pin"]
    with pytest.raises(ArtifactUnavailable, match="once the quantize extra is installed"):
        pick(m, "int8", "auto", frozenset())
    with pytest.raises(ArtifactUnavailable, match="tiny has no artifact 'nope'"):
        pick(m, "nope", "auto", frozenset())
    with pytest.raises(ArtifactUnavailable, match="tiny/int8 is a cpu artifact, not imx93"):
        pick(m, "int8", "imx93", frozenset())
