"""mIoU of a segmentation artifact on a dataset, the way the DeepLab papers count it.

Reads PASCAL VOC 2012 (JPEGImages/, SegmentationClass/ palette PNGs, ImageSets/Segmentation/<split>.txt)
or two plain folders (images/ and masks/ with matching stems). Pixels labelled with the ignore label
(255) are left out of the confusion matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from zoo.errors import ZooError
from zoo.progress import Progress
from zoo.segment import Segmenter

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
MIN_RECORDED_IMAGES = 100
"""An evaluation smaller than this is not written into a manifest unless asked explicitly: one image says little."""


@dataclass(frozen=True)
class Sample:
    name: str
    image: Path
    mask: Path


def samples(root: Path, split: str = "val") -> tuple[str, list[Sample]]:
    """(layout, samples) of a VOC-style folder (or its VOC2012/ child) or an images/ + masks/ pair."""
    for base in (root, root / "VOC2012"):
        if (base / "JPEGImages").is_dir():
            ids = base / "ImageSets" / "Segmentation" / f"{split}.txt"
            if not ids.is_file():
                raise ZooError(f"{ids} not found", f"is {split!r} a split of this dataset?")
            names = [line.strip() for line in ids.read_text().splitlines() if line.strip()]
            return "voc", [Sample(n, base / "JPEGImages" / f"{n}.jpg", base / "SegmentationClass" / f"{n}.png") for n in names]
    if (root / "images").is_dir() and (root / "masks").is_dir():
        masks = {p.stem: p for p in (root / "masks").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
        images = sorted(p for p in (root / "images").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.stem in masks)
        return "pairs", [Sample(p.stem, p, masks[p.stem]) for p in images]
    raise ZooError(f"{root} is neither a PASCAL VOC folder (JPEGImages/, SegmentationClass/, ImageSets/) "
                   "nor an images/ + masks/ pair")


def read_mask(path: Path) -> np.ndarray:
    """Class ids of a mask: a palette PNG's indices, or a greyscale image's values."""
    with Image.open(path) as mask:
        return np.asarray(mask if mask.mode in ("P", "L") else mask.convert("L"))


def confusion(truth: np.ndarray, predicted: np.ndarray, classes: int, ignore: int | None) -> np.ndarray:
    """classes x classes counts (row = truth, column = prediction), ignore-labelled pixels excluded."""
    keep = truth < classes if ignore is None else (truth != ignore) & (truth < classes)
    return np.bincount(classes * truth[keep].astype(np.int64) + predicted[keep].astype(np.int64),
                       minlength=classes * classes).reshape(classes, classes)


@dataclass
class Scores:
    images: int
    pixel_accuracy: float
    miou: float
    per_class: dict[str, float | None]

    def to_dict(self) -> dict:
        """Every figure in percent, as the manifests and papers give them."""
        pct = lambda v: None if v is None else round(v * 100, 4)  # noqa: E731
        return {"images": self.images, "unit": "%", "pixel_accuracy": pct(self.pixel_accuracy), "mIoU": pct(self.miou),
                "per_class_iou": {k: pct(v) for k, v in self.per_class.items()}}


def scores(matrix: np.ndarray, labels: list[str], images: int) -> Scores:
    """IoU per class (None where a class is in neither truth nor prediction), their mean, and pixel accuracy."""
    tp = np.diag(matrix).astype(np.float64)
    union = matrix.sum(0) + matrix.sum(1) - tp
    iou = [float(t / u) if u else None for t, u in zip(tp, union)]
    present = [v for v in iou if v is not None]
    total = matrix.sum()
    return Scores(images, float(tp.sum() / total) if total else 0.0, float(np.mean(present)) if present else 0.0,
                  dict(zip(labels, iou)))


def evaluate(segmenter: Segmenter, root: Path, split: str = "val", limit: int | None = None,
             progress: Progress | None = None) -> tuple[str, Scores]:
    """Run the model over the dataset and score it; returns (layout, scores)."""
    progress = progress or Progress()
    layout, items = samples(root, split)
    items = items[:limit] if limit else items
    if not items:
        raise ZooError(f"no images with masks under {root}")
    labels = segmenter.manifest.classes.labels
    ignore = segmenter.manifest.classes.ignore_label
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    progress.start("eval", len(items), "images")
    for item in items:
        with Image.open(item.image) as image:
            predicted = segmenter(image)
        truth = read_mask(item.mask)
        if truth.shape != predicted.shape:
            raise ZooError(f"{item.mask} is {truth.shape[1]}x{truth.shape[0]} but {item.image} is "
                           f"{predicted.shape[1]}x{predicted.shape[0]}")
        matrix += confusion(truth, predicted, len(labels), ignore)
        progress.advance(1)
    progress.done()
    return layout, scores(matrix, labels, len(items))


def describe(layout: str, root: Path, split: str, dataset: str | None) -> tuple[str, str]:
    """(dataset, split) an evaluation stands for: a VOC layout is PASCAL VOC 2012 and its split; a plain
    images/ + masks/ folder is that folder, all of it (it has no splits)."""
    if layout == "voc":
        return dataset or "PASCAL VOC 2012", split
    return dataset or root.name, "all"


def comparisons(manifest, artifact: str | None, result: Scores, dataset: str, split: str) -> list[dict]:
    """The manifest's mIoU figures for this artifact measured on the same dataset and split, with the difference."""
    return [{"value": x.value, "source": x.source, "dataset": x.dataset, "split": x.split, "images": x.images,
             "difference": round(result.miou * 100 - x.value, 2)}
            for x in manifest.metrics if x.name == "mIoU" and artifact and x.applies_to == artifact
            and x.unit == "%" and x.dataset == dataset and x.split == split]


def recordable(result: Scores, allow_small: bool) -> None:
    if result.images < MIN_RECORDED_IMAGES and not allow_small:
        raise ZooError(f"an evaluation on {result.images} image(s) is not recorded (the minimum is {MIN_RECORDED_IMAGES})",
                       "evaluate the whole split, or pass --allow-small to record it anyway")


def metric_entry(result: Scores, artifact: str, dataset: str, split: str, command: str, today: str) -> dict:
    """A manifest `metrics` entry (source: measured) for this evaluation."""
    return {"name": "mIoU", "value": round(result.miou * 100, 2), "unit": "%", "dataset": dataset, "split": split,
            "applies_to": artifact, "images": result.images, "source": "measured", "command": command, "date": today}
