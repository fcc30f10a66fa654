"""Single-person pose estimation: named keypoints with a score, as fractions of the original image's width and height;
agreement by keypoint distance; a skeleton drawn on the photo.

The output kind `keypoints-yxs` is MoveNet's: 1 x 1 x K x 3, each keypoint's (y, x, score) as fractions of the input.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

from zoo.schema import Strict
from zoo.tasks.base import Context, Dataset, Task, images_only

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np
    from PIL import Image

    from zoo.preprocess import Prepared
    from zoo.tensors import Output

COCO_KEYPOINTS = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
                  "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
                  "right_knee", "left_ankle", "right_ankle"]
AGREEMENT_DISTANCE = 0.04
"""A built model's keypoint agrees with its reference within this fraction of the image (libcoral's MoveNet rule)."""


class Head(Strict):
    keypoints: list[str] = Field(min_length=1, description="keypoint names, in the model's order")
    skeleton: list[Annotated[list[int], Field(min_length=2, max_length=2)]] = Field(
        default_factory=list, description="pairs of keypoint indices to draw as bones")
    min_score: float = Field(default=0.2, ge=0, le=1, description="keypoints scored lower are not drawn")


@dataclass(frozen=True)
class Keypoint:
    name: str
    x: float
    y: float
    score: float


@dataclass
class Pose:
    keypoints: list[Keypoint] = field(default_factory=list)
    target: str | None = None
    skeleton: list[list[int]] = field(default_factory=list, repr=False)  # how to draw it (the head's)
    min_score: float = 0.2

    def to_dict(self) -> dict:
        return {"task": TASK.name, "target": self.target,
                "keypoints": [{"name": k.name, "x": round(k.x, 6), "y": round(k.y, 6), "score": round(k.score, 6)}
                              for k in self.keypoints]}


class Posing(Task):
    name = "pose-estimation"
    Head = Head
    layouts = (("keypoints-yxs",),)
    headline = "AP"
    hub_tag = "keypoint-detection"

    def problems(self, outputs: list[Output], head: Head) -> Iterator[tuple[str, str]]:
        yield from super().problems(outputs, head)
        shape = outputs[0].shape
        if shape[-1] != 3 or shape[-2] != len(head.keypoints):
            yield "[0].shape", f"keypoints-yxs is ... x K x 3 with K = {len(head.keypoints)} keypoint names, got {shape}"
        for a, b in head.skeleton:
            if not (0 <= a < len(head.keypoints) and 0 <= b < len(head.keypoints)):
                yield "[0]", f"head.skeleton pairs keypoint indices 0..{len(head.keypoints) - 1}, got ({a}, {b})"

    def labels(self, head: Head) -> list[str]:
        return []

    def init_kind(self, shape: list[int], dtype: str, softmax: bool) -> str:
        return "keypoints-yxs"

    def init_head(self, outputs: list[dict], labels: list[str] | None, name: str, classes: int | None = None) -> dict:
        count = outputs[0]["shape"][-2]
        return {"keypoints": COCO_KEYPOINTS if count == len(COCO_KEYPOINTS) else [f"keypoint {i}" for i in range(count)]}

    def decode(self, outputs: list[np.ndarray], prepared: Prepared, ctx: Context, **options: Any) -> Pose:
        import numpy as np

        yxs = np.asarray(outputs[0], dtype=np.float32).reshape(-1, 3)
        head = ctx.head
        points = []
        for name, (y, x, score) in zip(head.keypoints, yxs):
            ix, iy = prepared.to_image(float(x), float(y))
            points.append(Keypoint(name, ix, iy, float(score)))
        return Pose(points, ctx.target, list(head.skeleton), head.min_score)

    def agreement(self, reference: list[np.ndarray], candidate: list[np.ndarray], ctx: Context) -> tuple[int, int]:
        import numpy as np

        a = np.asarray(reference[0], dtype=np.float32).reshape(-1, 3)[:, :2]
        b = np.asarray(candidate[0], dtype=np.float32).reshape(-1, 3)[:, :2]
        return int((np.abs(a - b).max(axis=1) <= AGREEMENT_DISTANCE).sum()), len(a)

    def agreement_unit(self, ctx: Context) -> str:
        return f"keypoints (within {AGREEMENT_DISTANCE})"

    def dataset(self, data: Path, ctx: Context, split: str) -> Dataset:
        return images_only(data, split, "no keypoint ground truth is read here: agreement with the reference file only")

    def eval_prediction(self, model, image: Image.Image, ds: Dataset) -> list[tuple[float, float]]:
        return [(k.x, k.y) for k in model.predict(image).keypoints]

    def agree(self, reference: list, candidate: list, ctx: Context) -> float:
        pairs = [(a, b) for ra, rb in zip(reference, candidate) for a, b in zip(ra, rb)]
        near = sum(max(abs(a[0] - b[0]), abs(a[1] - b[1])) <= AGREEMENT_DISTANCE for a, b in pairs)
        return round(100 * near / len(pairs), 4) if pairs else 100.0

    def text(self, result: Pose) -> str:
        from zoo.text import table

        return table(("keypoint", "x", "y", "score"), [(k.name, f"{k.x:.3f}", f"{k.y:.3f}", f"{k.score:.3f}")
                                                       for k in result.keypoints])

    def draw(self, image: Image.Image, result: Pose) -> Image.Image:
        from PIL import ImageDraw

        picture = image.convert("RGB")
        pen = ImageDraw.Draw(picture)
        w, h = picture.size
        seen = [k.score >= result.min_score for k in result.keypoints]
        at = [(k.x * w, k.y * h) for k in result.keypoints]
        width = max(2, round(min(w, h) / 150))
        for a, b in result.skeleton:
            if seen[a] and seen[b]:
                pen.line([at[a], at[b]], fill=(0, 255, 255), width=width)
        for (x, y), ok in zip(at, seen):
            if ok:
                pen.ellipse([x - 2 * width, y - 2 * width, x + 2 * width, y + 2 * width], fill=(255, 64, 64))
        return picture


TASK = Posing()
