"""Semantic segmentation: a class id per pixel, from in-model class ids or per-class logits/probabilities, mapped back
to the image (output stride, padding); agreement by pixel; mIoU the way the DeepLab papers count it.

`zoo eval` reads PASCAL VOC 2012 (JPEGImages/, SegmentationClass/ palette PNGs, ImageSets/Segmentation/<split>.txt) or
two plain folders (images/ and masks/ with matching stems); pixels with the ignore label (255) are left out.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from zoo.errors import ZooError
from zoo.schema import Strict
from zoo.tasks.base import Context, Evaluation, Task

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

    from zoo.preprocess import Prepared
    from zoo.tensors import Output

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


class Head(Strict):
    labels: list[str] = Field(min_length=1, description="class names by class id")
    ignore_label: int | None = Field(default=None, description="the label masks use for pixels no class is scored on")
    threshold: float = Field(default=0.5, gt=0, lt=1, description="a `probability` output: the label-1 pixels are those "
                                                                  "at or above it")


@dataclass
class Segmentation:
    """Class ids at the image's own size (H x W uint8), and the share of the pixels each class found covers."""

    mask: np.ndarray
    labels: list[str]
    target: str | None = None
    probability: np.ndarray | None = None  # a `probability` output at the image's size (the soft mask), else None

    @property
    def classes(self) -> list[tuple[str, float]]:
        """(label, share of the pixels) of every class present, largest first."""
        import numpy as np

        values, counts = np.unique(self.mask, return_counts=True)
        found = ((self.labels[v] if v < len(self.labels) else str(v), float(c / self.mask.size)) for v, c in zip(values, counts))
        return sorted(found, key=lambda x: -x[1])

    def to_dict(self) -> dict:
        return {"task": TASK.name, "target": self.target,
                "classes": [{"label": label, "share": share} for label, share in self.classes]}


class Segmenting(Task):
    name = "semantic-segmentation"
    Head = Head
    layouts = (("class-ids",), ("logits",), ("probabilities",), ("probability",))
    headline = "mIoU"
    hub_tag = "image-segmentation"

    def problems(self, outputs: list[Output], head: Head) -> Iterator[tuple[str, str]]:
        yield from super().problems(outputs, head)
        out = outputs[0]
        if out.kind == "probability" and (out.shape[-1] != 1 or len(head.labels) != 2):
            yield "[0].shape", ("a probability output is one channel (the last dimension 1) scoring head.labels[1] "
                                f"against head.labels[0]; got shape {out.shape} and {len(head.labels)} labels")
        elif out.kind not in ("class-ids", "probability") and out.shape[-1] != len(head.labels):
            yield "[0].shape", f"{out.kind} have {out.shape[-1]} classes in the last dimension but head.labels has {len(head.labels)}"

    def init_kind(self, shape: list[int], dtype: str, softmax: bool) -> str:
        if len(shape) == 3:
            return "class-ids"
        return "probability" if shape[-1:] == [1] else "probabilities" if softmax else "logits"

    def init_head(self, outputs: list[dict], labels: list[str] | None, name: str, classes: int | None = None) -> dict:
        """A one-channel probability scores `name` against the background (as MediaPipe's selfie model does)."""
        if outputs[0]["kind"] != "probability":
            return super().init_head(outputs, labels, name, classes)
        if labels is not None and len(labels) != 2:
            raise ZooError(f"the label file has {len(labels)} labels but a one-channel probability output scores 2 "
                           "classes", "give two lines: the background's label, then the label of what it finds")
        return {"labels": labels or ["background", name]}

    def decode(self, outputs: list[np.ndarray], prepared: Prepared, ctx: Context, **options: Any) -> Segmentation:
        import numpy as np
        from PIL import Image

        if ctx.outputs[0].kind == "probability":
            return self._thresholded(np.asarray(outputs[0], dtype=np.float32)[..., 0], prepared, ctx)
        ids = class_ids(outputs[0]).astype(np.uint8)
        height, width = prepared.array.shape[:2]
        if ids.shape != (height, width):  # logits at the output stride: back to the input grid
            ids = np.asarray(Image.fromarray(ids).resize((width, height), Image.NEAREST))
        left, top, w, h = prepared.pixels
        ids = ids[top:top + h, left:left + w]
        return Segmentation(np.asarray(Image.fromarray(ids).resize(prepared.image_size, Image.NEAREST)), ctx.labels,
                            ctx.target)

    def _thresholded(self, probability: np.ndarray, prepared: Prepared, ctx: Context) -> Segmentation:
        """A one-channel probability map back at the image's size (bilinear: it is smooth), then the mask by the head's
        threshold, as MediaPipe's segmentation graphs do."""
        import numpy as np
        from PIL import Image

        height, width = prepared.array.shape[:2]
        scores = Image.fromarray(probability)
        if probability.shape != (height, width):
            scores = scores.resize((width, height), Image.BILINEAR)
        left, top, w, h = prepared.pixels
        soft = np.asarray(scores.crop((left, top, left + w, top + h)).resize(prepared.image_size, Image.BILINEAR))
        mask = (soft >= ctx.head.threshold).astype(np.uint8)
        return Segmentation(mask, ctx.labels, ctx.target, soft)

    def agreement(self, reference: list[np.ndarray], candidate: list[np.ndarray], ctx: Context) -> tuple[int, int]:
        if ctx.outputs[0].kind == "probability":
            cut = ctx.head.threshold
            a, b = reference[0][0][..., 0] >= cut, candidate[0][0][..., 0] >= cut
            return int((a & b).sum()), int((a | b).sum()) or 1  # the regions' intersection over union
        a, b = class_ids(reference[0][0]), class_ids(candidate[0][0])
        return int((a == b).sum()), int(a.size)

    def agreement_unit(self, ctx: Context) -> str:
        if ctx.outputs[0].kind == "probability":
            return f"the union of both {ctx.labels[1]} regions (intersection over union)"
        return "pixels"

    def text(self, result: Segmentation) -> str:
        return "\n".join(f"{label:<14} {share:7.2%}" for label, share in result.classes)

    def draw(self, image: Image.Image, result: Segmentation) -> Image.Image:
        from PIL import Image

        return Image.blend(image.convert("RGB"), Image.fromarray(pascal_palette()[result.mask]), 0.5)

    def pictures(self, image: Image.Image, result: Segmentation, path: Path) -> dict[str, tuple[Path, Image.Image]]:
        """The PASCAL-coloured mask at `path` (NAME_mask.png), the class ids beside it (NAME_ids.png, greyscale, as
        `zoo eval` reads masks) and the overlay (NAME_overlay.png)."""
        from PIL import Image

        stem = path.stem.removesuffix("_mask")
        return {"mask": (path, Image.fromarray(pascal_palette()[result.mask])),
                "ids": (path.with_name(f"{stem}_ids.png"), Image.fromarray(result.mask, mode="L")),
                "overlay": (path.with_name(f"{stem}_overlay.png"), self.draw(image, result))}

    def output_name(self, image: Path) -> str:
        return f"{image.stem}_mask.png"

    def evaluate(self, model, data: Path, split: str, limit: int | None, progress) -> Evaluation:
        import numpy as np

        from zoo.images import open_image

        layout, items = samples(data, split)
        items = items[:limit] if limit else items
        if not items:
            raise ZooError(f"no images with masks under {data}")
        labels, ignore = model.manifest.labels, model.manifest.parsed_head.ignore_label
        matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
        progress.start("eval", len(items), "images")
        for image_path, mask_path in items:
            predicted = model.predict(open_image(image_path)).mask
            truth = read_mask(mask_path)
            if truth.shape != predicted.shape:
                raise ZooError(f"{mask_path} is {truth.shape[1]}x{truth.shape[0]} but {image_path} is "
                               f"{predicted.shape[1]}x{predicted.shape[0]}")
            matrix += confusion(truth, predicted, len(labels), ignore)
            progress.advance(1)
        progress.done()
        s = scores(matrix, labels)
        dataset, split = ("PASCAL VOC 2012", split) if layout == "voc" else (data.name, "all")
        return Evaluation(dataset, split, len(items), layout, {
            "mIoU": s["mIoU"], "pixel_accuracy": s["pixel_accuracy"], "per_class_iou": s["per_class"]}, "mIoU", s["mIoU"])


def class_ids(y: np.ndarray) -> np.ndarray:
    """Class ids from one image's output: argmax over the last axis of logits or probabilities, or the ids themselves."""
    import numpy as np

    y = np.asarray(y)
    return y.argmax(-1) if y.ndim == 3 else y


def pascal_palette() -> np.ndarray:
    """The PASCAL VOC colour map (256 x 3, uint8): each label's bits spread over the high bits of R, G and B."""
    import numpy as np

    palette = np.zeros((256, 3), dtype=np.uint8)
    for label in range(256):
        value, r, g, b = label, 0, 0, 0
        for shift in range(7, -1, -1):
            r |= (value & 1) << shift
            g |= ((value >> 1) & 1) << shift
            b |= ((value >> 2) & 1) << shift
            value >>= 3
        palette[label] = (r, g, b)
    return palette


def samples(root: Path, split: str = "val") -> tuple[str, list[tuple[Path, Path]]]:
    """(layout, [(image, mask)]) of a VOC-style folder (or its VOC2012/ child) or an images/ + masks/ pair."""
    for base in (root, root / "VOC2012"):
        if (base / "JPEGImages").is_dir():
            ids = base / "ImageSets" / "Segmentation" / f"{split}.txt"
            if not ids.is_file():
                raise ZooError(f"{ids} not found", f"is {split!r} a split of this dataset?")
            names = [line.strip() for line in ids.read_text().splitlines() if line.strip()]
            return "voc", [(base / "JPEGImages" / f"{n}.jpg", base / "SegmentationClass" / f"{n}.png") for n in names]
    if (root / "images").is_dir() and (root / "masks").is_dir():
        masks = {p.stem: p for p in (root / "masks").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
        images = sorted(p for p in (root / "images").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.stem in masks)
        return "pairs", [(p, masks[p.stem]) for p in images]
    raise ZooError(f"{root} is neither a PASCAL VOC folder (JPEGImages/, SegmentationClass/, ImageSets/) "
                   "nor an images/ + masks/ pair")


def read_mask(path: Path) -> np.ndarray:
    """Class ids of a mask: a palette PNG's indices, or a greyscale image's values."""
    import numpy as np

    from zoo.images import open_image

    mask = open_image(path)
    return np.asarray(mask if mask.mode in ("P", "L") else mask.convert("L"))


def confusion(truth: np.ndarray, predicted: np.ndarray, classes: int, ignore: int | None) -> np.ndarray:
    """classes x classes counts (row = truth, column = prediction), ignore-labelled pixels excluded."""
    import numpy as np

    keep = truth < classes if ignore is None else (truth != ignore) & (truth < classes)
    return np.bincount(classes * truth[keep].astype(np.int64) + predicted[keep].astype(np.int64),
                       minlength=classes * classes).reshape(classes, classes)


def scores(matrix: np.ndarray, labels: list[str]) -> dict:
    """In percent: IoU per class (None where a class is in neither truth nor prediction), their mean, pixel accuracy."""
    import numpy as np

    tp = np.diag(matrix).astype(np.float64)
    union = matrix.sum(0) + matrix.sum(1) - tp
    iou = [float(t / u) * 100 if u else None for t, u in zip(tp, union)]
    present = [v for v in iou if v is not None]
    total = matrix.sum()
    return {"mIoU": round(float(np.mean(present)), 4) if present else 0.0,
            "pixel_accuracy": round(float(tp.sum() / total) * 100, 4) if total else 0.0,
            "per_class": {k: None if v is None else round(v, 4) for k, v in zip(labels, iou)}}


TASK = Segmenting()
