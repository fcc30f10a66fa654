"""Object detection: boxes with a label, a score and optional named keypoints, as fractions of the original image.

Two forms of outputs are described:
- raw SSD outputs decoded here (`box-regressors` and `box-scores`), as MediaPipe's BlazeFace and its kin publish them:
  anchors from SSD options (MediaPipe's SsdAnchorsCalculator), box offsets scaled by the input size relative to each
  anchor, scores through a sigmoid (clipped first), a score threshold, then non-max suppression (MediaPipe's weighted
  form averages each cluster by score; `standard` keeps the best);
- outputs already post-processed in the model (`boxes`, `classes`, `scores`, `count`: the TFLite_Detection_PostProcess
  operator that SSD and EfficientDet-Lite exports end in; boxes as ymin, xmin, ymax, xmax fractions of the input);
- grids of cells (`grid`, one output per scale) in the forms `head.grid` names: YOLO v3's heads (anchors in input
  pixels) and FastestDet's anchor-free head, decoded here, then a score threshold and non-max suppression, over all
  outputs together or within each (as NXP's eIQ examples do).
Either way the letterboxing of the input is undone on the way out.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from zoo.errors import ZooError
from zoo.schema import Strict
from zoo.tasks.base import Context, Dataset, Task

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np
    from PIL import Image

    from zoo.preprocess import Prepared
    from zoo.tensors import Output

AGREEMENT_IOU = 0.8
"""A built model's detection agrees with its reference's when their boxes overlap this much (intersection over union)."""


class Anchors(Strict):
    """MediaPipe's SsdAnchorsCalculatorOptions (mediapipe/calculators/tflite/ssd_anchors_calculator.proto)."""

    num_layers: Annotated[int, Field(gt=0)]
    min_scale: float
    max_scale: float
    input_size: list[Annotated[int, Field(gt=0)]] = Field(min_length=2, max_length=2, description="width, height")
    strides: list[Annotated[int, Field(gt=0)]] = Field(min_length=1)
    offset: list[float] = Field(default=[0.5, 0.5], min_length=2, max_length=2, description="x, y")
    aspect_ratios: list[float] = Field(default=[1.0], min_length=1)
    interpolated_scale_aspect_ratio: float = 1.0
    fixed_anchor_size: bool = True
    reduce_boxes_in_lowest_layer: bool = False


class Grid(Strict):
    """How each cell of a grid output reads (every output of kind `grid`: batch x rows x columns x values)."""

    form: Literal["yolo-v3", "fastestdet"] = Field(description=(
        "yolo-v3: per cell and anchor x, y, w, h, objectness, classes; centre = (cell + sigmoid(x, y)) / grid, size = "
        "anchor x exp(w, h) / input size. fastestdet: per cell objectness, x, y, w, h, classes; centre = (cell + "
        "tanh(x, y)) / grid, size = sigmoid(w, h) (fractions of the input), no anchors"))
    anchors: list[list[list[Annotated[float, Field(gt=0)]]]] = Field(
        default_factory=list, description="yolo-v3: per output, in output order, each anchor's (width, height) in input pixels")
    input_size: list[Annotated[int, Field(gt=0)]] | None = Field(
        default=None, min_length=2, max_length=2, description="yolo-v3: the input's width, height (the anchors' unit)")
    sigmoid: bool = Field(default=True, description="objectness and class values are logits (a sigmoid makes them "
                                                    "probabilities); false when the model applied it")
    score_exponents: list[float] = Field(default=[1.0, 1.0], min_length=2, max_length=2,
                                         description="score = objectness^a x class^b (FastestDet: 0.6, 0.4)")
    nms_per_output: bool = Field(default=False, description="non-max suppression within each output on its own (NXP's "
                                                            "examples), not over all outputs together")

    def values(self, labels: int) -> int:
        """Values per anchor box (per cell when anchor-free)."""
        return 5 + labels


class Head(Strict):
    labels: list[str] = Field(min_length=1, description="class names by class id")
    label_offset: int = Field(default=0, ge=0, description="for post-processed outputs: labels before class id 0")
    keypoints: list[str] = Field(default_factory=list, description="names of the keypoints each box carries")
    anchors: Anchors | None = Field(default=None, description="for raw outputs: the SSD anchors")
    grid: Grid | None = Field(default=None, description="for grid outputs: how their cells read")
    box_scale: list[float] = Field(default=[1.0, 1.0, 1.0, 1.0], min_length=4, max_length=4,
                                   description="raw outputs: x, y, w, h scales (the input size in MediaPipe's models)")
    box_order: Literal["xywh", "yxhw"] = Field(default="xywh", description="raw outputs: how each box's first four values read")
    score: Literal["sigmoid", "none"] = "sigmoid"
    score_clip: float | None = Field(default=None, description="raw scores are clipped to +-this before the sigmoid")
    min_score: float = Field(default=0.5, ge=0, le=1)
    nms: Literal["weighted", "standard"] = "weighted"
    iou_threshold: float = Field(default=0.3, ge=0, le=1)


@dataclass(frozen=True)
class Box:
    xmin: float
    ymin: float
    xmax: float
    ymax: float

    def iou(self, other: Box) -> float:
        w = max(0.0, min(self.xmax, other.xmax) - max(self.xmin, other.xmin))
        h = max(0.0, min(self.ymax, other.ymax) - max(self.ymin, other.ymin))
        inter = w * h
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    @property
    def area(self) -> float:
        return max(0.0, self.xmax - self.xmin) * max(0.0, self.ymax - self.ymin)


@dataclass(frozen=True)
class Detection:
    label: str
    score: float
    box: Box
    keypoints: tuple[tuple[str, float, float], ...] = ()

    def to_dict(self) -> dict:
        return {"label": self.label, "score": round(self.score, 6),
                "box": {k: round(v, 6) for k, v in vars(self.box).items()},
                "keypoints": [{"name": n, "x": round(x, 6), "y": round(y, 6)} for n, x, y in self.keypoints]}


@dataclass
class Detections:
    detections: list[Detection] = field(default_factory=list)
    target: str | None = None

    def to_dict(self) -> dict:
        return {"task": TASK.name, "target": self.target, "detections": [d.to_dict() for d in self.detections]}


class Detecting(Task):
    name = "object-detection"
    Head = Head
    layouts = (("box-regressors", "box-scores"), ("boxes", "classes", "scores", "count"), ("grid",))
    headline = "mAP"
    hub_tag = "object-detection"

    def problems(self, outputs: list[Output], head: Head) -> Iterator[tuple[str, str]]:
        if outputs and all(o.kind == "grid" for o in outputs):
            yield from _grid_problems(outputs, head)
            return
        yield from super().problems(outputs, head)
        if outputs[0].kind == "box-regressors":
            if head.anchors is None:
                yield "", "raw box-regressors need head.anchors (the SSD anchor options)"
                return
            count = len(anchors(head.anchors))
            boxes, width = outputs[0].shape[-2], outputs[0].shape[-1]
            if boxes != count:
                yield "[0].shape", f"{boxes} boxes, but head.anchors make {count}"
            if width != 4 + 2 * len(head.keypoints):
                yield "[0].shape", f"{width} values a box, but 4 + 2 x {len(head.keypoints)} keypoints make {4 + 2 * len(head.keypoints)}"

    def decode(self, outputs: list[np.ndarray], prepared: Prepared, ctx: Context, min_score: float | None = None,
               **options: Any) -> Detections:
        head = ctx.head
        if min_score is not None:
            head = head.model_copy(update={"min_score": min_score})
        found = _decoder(ctx.outputs[0].kind)(outputs, head)
        return Detections([_to_image(d, prepared) for d in found], ctx.target)

    def agreement(self, reference: list[np.ndarray], candidate: list[np.ndarray], ctx: Context) -> tuple[int, int]:
        """Detections of the reference matched one to one by a candidate box of the same label (IoU >= 0.8), over the
        larger of the two counts: missing and extra boxes both count against."""
        head = ctx.head
        decode = _decoder(ctx.outputs[0].kind)
        ref, cand = decode([r[0] for r in reference], head), decode([c[0] for c in candidate], head)
        unmatched = list(cand)
        matched = 0
        for d in ref:
            best = max(unmatched, key=lambda c: c.box.iou(d.box) if c.label == d.label else -1, default=None)
            if best is not None and best.label == d.label and best.box.iou(d.box) >= AGREEMENT_IOU:
                matched += 1
                unmatched.remove(best)
        return matched, max(len(ref), len(cand))

    def init_kind(self, shape: list[int], dtype: str, softmax: bool) -> str:
        """zoo init reads the outputs of a detector ending in TFLite_Detection_PostProcess from the file (manifest_init);
        raw outputs need their decoding described by hand."""
        raise ZooError("zoo init describes object detectors that end in TFLite_Detection_PostProcess; this one does not",
                       "write its manifest by hand: its head describes the raw outputs (see manifests/)")

    def init_head(self, outputs: list[dict], labels: list[str] | None, name: str, classes: int | None = None) -> dict:
        """A post-processed detector's head for `zoo init`: its labels, line = class id (it says nothing of them)."""
        if not labels:
            raise ZooError("a detector needs --labels FILE (one label a line, line = class id) when its file has no "
                           "label map in TFLite Model Metadata")
        return {"labels": labels}

    def agreement_unit(self, ctx: Context) -> str:
        return f"detections (same label, box IoU >= {AGREEMENT_IOU})"

    def text(self, result: Detections) -> str:
        from zoo.text import table

        return table(("label", "score", "xmin", "ymin", "xmax", "ymax"),
                     [(d.label, f"{d.score:.3f}", *(f"{v:.3f}" for v in vars(d.box).values())) for d in result.detections])

    def draw(self, image: Image.Image, result: Detections) -> Image.Image:
        from PIL import ImageDraw

        picture = image.convert("RGB")
        pen = ImageDraw.Draw(picture)
        w, h = picture.size
        width = max(2, round(min(w, h) / 200))
        for d in result.detections:
            pen.rectangle([d.box.xmin * w, d.box.ymin * h, d.box.xmax * w, d.box.ymax * h], outline=(255, 64, 64), width=width)
            pen.text((d.box.xmin * w + 3, d.box.ymin * h + 3), f"{d.label} {d.score:.2f}", fill=(255, 255, 0))
            for _, x, y in d.keypoints:
                pen.ellipse([x * w - 2 * width, y * h - 2 * width, x * w + 2 * width, y * h + 2 * width], fill=(0, 255, 255))
        return picture


    def dataset(self, data: Path, ctx: Context, split: str) -> Dataset:
        from zoo.tasks import detection_data

        return detection_data.read(data, ctx.labels, split)

    def eval_prediction(self, model, image: Image.Image, ds: Dataset) -> list[Detection]:
        return model.predict(image, min_score=EVAL_MIN_SCORE if ds.metric else None).detections

    def score(self, ds: Dataset, predictions: list) -> dict[str, Any]:
        from zoo.tasks import detection_data

        return detection_data.score(ds, predictions)

    def agree(self, reference: list, candidate: list, ctx: Context) -> float:
        """Boxes of the same label matched one to one at IoU >= 0.5 among the detections scored at least the head's
        min_score, over the larger count of each image (missing and extra boxes both count against)."""
        cut = ctx.head.min_score
        matched = total = 0
        for ref, cand in zip(reference, candidate):
            ref, unmatched = [d for d in ref if d.score >= cut], [d for d in cand if d.score >= cut]
            total += max(len(ref), len(unmatched))
            for d in ref:
                best = max(unmatched, key=lambda c: c.box.iou(d.box) if c.label == d.label else -1, default=None)
                if best is not None and best.label == d.label and best.box.iou(d.box) >= EVAL_AGREEMENT_IOU:
                    matched += 1
                    unmatched.remove(best)
        return round(100 * matched / total, 4) if total else 100.0

    def agree_unit(self, ctx: Context) -> str:
        return f"boxes (same label, IoU >= {EVAL_AGREEMENT_IOU})"


EVAL_MIN_SCORE = 0.05
"""zoo eval scores detections down to this score (as torchvision's COCO references do), not the head's threshold."""
EVAL_AGREEMENT_IOU = 0.5


def anchors(options: Anchors) -> list[tuple[float, float, float, float]]:
    """(x_center, y_center, width, height) of every SSD anchor, in MediaPipe's order (SsdAnchorsCalculator)."""
    def scale(index: int) -> float:
        n = options.num_layers
        return (options.min_scale + options.max_scale) / 2 if n == 1 else \
            options.min_scale + (options.max_scale - options.min_scale) * index / (n - 1)

    out = []
    layer = 0
    width, height = options.input_size
    while layer < options.num_layers:
        sizes = []
        last = layer
        while last < options.num_layers and options.strides[last] == options.strides[layer]:
            s = scale(last)
            if last == 0 and options.reduce_boxes_in_lowest_layer:
                sizes += [(0.1, 1.0), (s, 2.0), (s, 0.5)]
            else:
                sizes += [(s, ratio) for ratio in options.aspect_ratios]
                if options.interpolated_scale_aspect_ratio > 0:
                    following = 1.0 if last == options.num_layers - 1 else scale(last + 1)
                    sizes.append((math.sqrt(s * following), options.interpolated_scale_aspect_ratio))
            last += 1
        stride = options.strides[layer]
        rows, cols = math.ceil(height / stride), math.ceil(width / stride)
        for y in range(rows):
            for x in range(cols):
                for s, ratio in sizes:
                    w, h = (1.0, 1.0) if options.fixed_anchor_size else (s * math.sqrt(ratio), s / math.sqrt(ratio))
                    out.append(((x + options.offset[0]) / cols, (y + options.offset[1]) / rows, w, h))
        layer = last
    return out


@functools.lru_cache(maxsize=16)
def _anchor_array(options: str) -> np.ndarray:
    """anchors() as a float32 array, made once per anchor options (given as JSON) and read-only: decoding reads it for
    every image."""
    import numpy as np

    grid = np.asarray(anchors(Anchors.model_validate_json(options)), dtype=np.float32)
    grid.flags.writeable = False
    return grid


def raw_detections(outputs: list[np.ndarray], head: Head) -> list[Detection]:
    """Decode raw SSD outputs (boxes relative to anchors, logits) into detections in the input's fractions."""
    import numpy as np

    boxes = np.asarray(outputs[0], dtype=np.float32).reshape(-1, outputs[0].shape[-1])
    logits = np.asarray(outputs[1], dtype=np.float32).reshape(boxes.shape[0], -1)
    if head.score_clip is not None:
        logits = np.clip(logits, -head.score_clip, head.score_clip)
    scores = 0.5 * (1 + np.tanh(logits / 2)) if head.score == "sigmoid" else logits  # the sigmoid, without overflow
    classes, best = scores.argmax(1), scores.max(1)
    anchor = _anchor_array(head.anchors.model_dump_json())
    sx, sy, sw, sh = head.box_scale
    order = (0, 1, 2, 3) if head.box_order == "xywh" else (1, 0, 3, 2)
    cx = boxes[:, order[0]] / sx * anchor[:, 2] + anchor[:, 0]
    cy = boxes[:, order[1]] / sy * anchor[:, 3] + anchor[:, 1]
    w, h = boxes[:, order[2]] / sw * anchor[:, 2], boxes[:, order[3]] / sh * anchor[:, 3]
    kx = boxes[:, 4::2] / sx * anchor[:, 2:3] + anchor[:, 0:1]
    ky = boxes[:, 5::2] / sy * anchor[:, 3:4] + anchor[:, 1:2]
    found = []
    for i in np.flatnonzero(best >= head.min_score):
        points = tuple((name, float(kx[i, k]), float(ky[i, k])) for k, name in enumerate(head.keypoints))
        found.append(Detection(head.labels[int(classes[i])], float(best[i]),
                               Box(float(cx[i] - w[i] / 2), float(cy[i] - h[i] / 2), float(cx[i] + w[i] / 2),
                                   float(cy[i] + h[i] / 2)), points))
    return suppress(found, head)


def suppress(found: list[Detection], head: Head) -> list[Detection]:
    """Non-max suppression, best score first: each kept detection takes every remaining one of its label whose box
    overlaps it more than the threshold; `weighted` (MediaPipe's) averages their boxes and keypoints by score."""
    remaining = sorted(found, key=lambda d: -d.score)
    kept = []
    while remaining:
        top = remaining[0]
        cluster = [d for d in remaining if d.label == top.label and d.box.iou(top.box) > head.iou_threshold]
        cluster = cluster if top in cluster else [top, *cluster]
        remaining = [d for d in remaining if d not in cluster]
        if head.nms == "weighted":
            total = sum(d.score for d in cluster)
            box = Box(*(sum(getattr(d.box, k) * d.score for d in cluster) / total for k in ("xmin", "ymin", "xmax", "ymax")))
            points = tuple((name, sum(d.keypoints[k][1] * d.score for d in cluster) / total,
                            sum(d.keypoints[k][2] * d.score for d in cluster) / total) for k, (name, _, _) in enumerate(top.keypoints))
            top = Detection(top.label, top.score, box, points)
        kept.append(top)
    return kept


def postprocessed(outputs: list[np.ndarray], head: Head) -> list[Detection]:
    """Detections from TFLite_Detection_PostProcess outputs: boxes (ymin, xmin, ymax, xmax), classes, scores, count."""
    import numpy as np

    boxes = np.asarray(outputs[0], dtype=np.float32).reshape(-1, 4)
    classes, scores = np.asarray(outputs[1]).reshape(-1), np.asarray(outputs[2], dtype=np.float32).reshape(-1)
    count = int(np.asarray(outputs[3]).reshape(-1)[0])
    found = []
    for i in range(min(count, len(scores))):
        if scores[i] >= head.min_score:
            ymin, xmin, ymax, xmax = (float(v) for v in boxes[i])
            index = int(classes[i]) + head.label_offset
            label = head.labels[index] if 0 <= index < len(head.labels) else str(index)  # a class the labels lack
            found.append(Detection(label, float(scores[i]), Box(xmin, ymin, xmax, ymax)))
    return found


def _decoder(kind: str):
    """The decoding of an output form: outputs (batch removed), head -> detections in input fractions."""
    return {"box-regressors": raw_detections, "grid": grid_detections}.get(kind, postprocessed)


def _grid_problems(outputs: list[Output], head: Head) -> Iterator[tuple[str, str]]:
    grid = head.grid
    if grid is None:
        yield "", "grid outputs need head.grid (how their cells read)"
        return
    if grid.form == "yolo-v3" and grid.input_size is None:
        yield "", "a yolo-v3 head.grid needs input_size (width, height: the unit of its anchors)"
        return
    if grid.form == "yolo-v3" and len(grid.anchors) != len(outputs):
        yield "", f"head.grid.anchors lists {len(grid.anchors)} outputs' anchors for {len(outputs)} grid outputs"
        return
    for i, o in enumerate(outputs):
        boxes = len(grid.anchors[i]) if grid.form == "yolo-v3" else 1
        if len(o.shape) != 4 or o.shape[-1] != boxes * grid.values(len(head.labels)):
            yield f"[{i}].shape", (f"a {grid.form} grid is batch x rows x columns x {boxes} box(es) x (5 + "
                                   f"{len(head.labels)} labels) values; the shape is {o.shape}")
        if grid.form == "yolo-v3" and any(len(a) != 2 for a in grid.anchors[i]):
            yield "", f"head.grid.anchors[{i}]: each anchor is (width, height)"


def grid_detections(outputs: list[np.ndarray], head: Head) -> list[Detection]:
    """Decode grid outputs (each rows x columns x values, batch removed) into detections in the input's fractions."""
    import numpy as np

    grid, found = head.grid, []
    for index, raw in enumerate(outputs):
        rows, cols = raw.shape[-3], raw.shape[-2]
        boxes = len(grid.anchors[index]) if grid.form == "yolo-v3" else 1
        cells = np.asarray(raw, dtype=np.float64).reshape(rows, cols, boxes, -1)
        col, row = np.meshgrid(np.arange(cols), np.arange(rows))
        col, row = col[..., None], row[..., None]
        if grid.form == "yolo-v3":
            objectness, classes = cells[..., 4], cells[..., 5:]
            anchor = np.asarray(grid.anchors[index], dtype=np.float64)
            cx, cy = (col + _sigmoid(cells[..., 0])) / cols, (row + _sigmoid(cells[..., 1])) / rows
            width, height = grid.input_size
            w, h = anchor[:, 0] * np.exp(cells[..., 2]) / width, anchor[:, 1] * np.exp(cells[..., 3]) / height
        else:
            objectness, classes = cells[..., 0], cells[..., 5:]
            cx, cy = (col + np.tanh(cells[..., 1])) / cols, (row + np.tanh(cells[..., 2])) / rows
            w, h = _sigmoid(cells[..., 3]), _sigmoid(cells[..., 4])
        if grid.sigmoid:
            objectness, classes = _sigmoid(objectness), _sigmoid(classes)
        label, best = classes.argmax(-1), classes.max(-1)
        a, b = grid.score_exponents
        score = np.clip(objectness, 0, None) ** a * np.clip(best, 0, None) ** b
        mine = [Detection(head.labels[int(label[i])], float(score[i]),
                          Box(float(cx[i] - w[i] / 2), float(cy[i] - h[i] / 2), float(cx[i] + w[i] / 2), float(cy[i] + h[i] / 2)))
                for i in zip(*np.nonzero(score >= head.min_score))]
        found += suppress(mine, head) if grid.nms_per_output else mine
    return found if grid.nms_per_output else suppress(found, head)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    import numpy as np

    return 0.5 * (1 + np.tanh(x / 2))  # without overflow


def _to_image(d: Detection, prepared: Prepared) -> Detection:
    """A detection in the input's fractions, in the original image's (the letterbox undone)."""
    xmin, ymin = prepared.to_image(d.box.xmin, d.box.ymin)
    xmax, ymax = prepared.to_image(d.box.xmax, d.box.ymax)
    points = tuple((name, *prepared.to_image(x, y)) for name, x, y in d.keypoints)
    return Detection(d.label, d.score, Box(xmin, ymin, xmax, ymax), points)


TASK = Detecting()
