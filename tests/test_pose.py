"""Pose estimation on Google's real MoveNet Lightning, against the reference keypoints upstream's libcoral test keeps
(coral/pose_estimation/movenet_test.cc: keypoints where both scores exceed 0.4, each x and y within 0.04 of the
reference, at least 8 compared)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("ai_edge_litert", reason="the run extra (ai-edge-litert) is not installed")
from PIL import Image  # noqa: E402

import zoo  # noqa: E402
from zoo.tasks import get_task  # noqa: E402


def zoo_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, timeout=300, env=os.environ)


def libcoral_rule(keypoints: list[dict], reference: list[dict]) -> tuple[int, float]:
    """(keypoints compared, largest deviation) under libcoral's MoveNet rule."""
    compared, worst = 0, 0.0
    for got, want in zip(keypoints, reference, strict=True):
        if got["score"] > 0.4 and float(want["keypoint_score"]) > 0.4:
            compared += 1
            worst = max(worst, abs(got["x"] - float(want["keypoint_x"])), abs(got["y"] - float(want["keypoint_y"])))
    return compared, worst


def test_movenet_matches_upstreams_reference_keypoints(shared_mirror, coral_tasks, tmp_path):
    proc = zoo_cli("predict", "movenet-lightning", str(coral_tasks / "squat.bmp"), "--json", "-t", "cpu",
                   "-o", f"{tmp_path}/out/")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["task"] == "pose-estimation" and [k["name"] for k in out["keypoints"]][:3] == ["nose", "left_eye", "right_eye"]
    with open(coral_tasks / "movenet_single_pose_lightning_ptq_reference.csv") as f:
        reference = list(csv.DictReader(f))
    compared, worst = libcoral_rule(out["keypoints"], reference)
    assert compared >= 8 and worst <= 0.04, (compared, worst)  # measured here: 13 compared, largest 0.019
    picture = Image.open(out["picture"])
    photo = Image.open(coral_tasks / "squat.bmp").convert("RGB")
    assert picture.size == photo.size and out["picture"] == str(tmp_path / "out" / "squat_pose-estimation.png")
    changed = np.any(np.asarray(picture) != np.asarray(photo), axis=2)
    assert 0.001 < changed.mean() < 0.2  # the skeleton is drawn, the photo is still there


def test_keypoints_are_fractions_of_the_original_image_and_agreement_is_by_distance(shared_mirror, coral_tasks):
    model = zoo.load("movenet-lightning", target="cpu")
    photo = Image.open(coral_tasks / "squat.bmp")
    wide = Image.new("RGB", (photo.width * 2, photo.height))  # the same person in the left half of a wider image
    wide.paste(photo.convert("RGB"), (0, 0))
    narrow, double = model.predict(photo), model.predict(wide)
    assert all(0 <= k.x <= 1 and 0 <= k.y <= 1 for k in narrow.keypoints)
    assert max(k.x for k in double.keypoints if k.score > 0.3) < 0.55  # stretched input, mapped back to the wide image
    task = get_task("pose-estimation")
    ref = [np.array([[[[0.5, 0.5, 0.9], [0.2, 0.2, 0.9]]]])]
    assert task.agreement(ref, [ref[0] + [[[[0.03, 0.0, 0.0], [0.1, 0.0, 0.0]]]]], None) == (1, 2)
