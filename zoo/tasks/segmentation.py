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
from zoo.tasks.base import Context, Dataset, Task

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

    def dataset(self, data: Path, ctx: Context, split: str) -> Dataset:
        layout, split, samples, lut, notes = samples_of(data, split, ctx.labels)
        if not samples:
            raise ZooError(f"no images with masks under {data}")
        dataset = "PASCAL VOC 2012" if layout == "voc" else data.name
        metric = self.metric(ctx)
        ignore = ctx.head.ignore_label if lut is None else IGNORE
        return Dataset(dataset, split, layout, samples, metric, notes=notes, truth=Truth(lut, ignore, ctx.labels))

    def metric(self, ctx: Context) -> str:
        return f"{ctx.labels[1]} IoU" if ctx.outputs[0].kind == "probability" else "mIoU"

    def eval_prediction(self, model, image: Image.Image, ds: Dataset) -> np.ndarray:
        return model.predict(image).mask

    def read_truth(self, ds: Dataset, sample) -> None:
        ds.truth.read(sample, ds)

    def score(self, ds: Dataset, predictions: list) -> dict[str, Any]:
        import numpy as np

        labels = ds.truth.labels
        matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
        for (image_path, mask), predicted in zip(ds.samples, predictions):
            truth = ds.truth.read((image_path, mask), ds)
            if truth.shape != predicted.shape:
                raise ZooError(f"{mask if isinstance(mask, Path) else mask[0]} is {truth.shape[1]}x{truth.shape[0]} but "
                               f"{image_path} is {predicted.shape[1]}x{predicted.shape[0]}", "a mask has its image's size")
            matrix += confusion(truth, predicted, len(labels), ds.truth.ignore)
        s = scores(matrix, labels)
        figures = {"mIoU": s["mIoU"], "pixel_accuracy": s["pixel_accuracy"], "per_class_iou": s["per_class"]}
        if ds.metric != "mIoU":
            figures = {ds.metric: s["per_class"][labels[1]] or 0.0, **figures}
        return figures

    def agree(self, reference: list, candidate: list, ctx: Context) -> float:
        import numpy as np

        labels = ctx.labels
        matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
        for a, b in zip(reference, candidate):
            matrix += confusion(a, b, len(labels), None)
        s = scores(matrix, labels)
        return (s["per_class"][labels[1]] or 0.0) if ctx.outputs[0].kind == "probability" else s["mIoU"]

    def agree_unit(self, ctx: Context) -> str:
        return f"{ctx.labels[1]} IoU" if ctx.outputs[0].kind == "probability" else "mIoU"


IGNORE = 255
"""The truth zoo maps a dataset's masks to leaves unlabeled (and crowd) pixels at this value: not scored."""


class Truth:
    """Reads a sample's mask as the model's class ids: as they are (VOC, plain pairs), or through a look-up table
    from the dataset's class ids (COCO semantic masks; COCO panoptic segments, crowd ones ignored). An unreadable mask
    is one line naming it."""

    def __init__(self, lut, ignore: int | None, labels: list[str]):
        self.lut, self.ignore, self.labels = lut, ignore, labels
        self._read: dict = {}  # by mask path: every file of a run is scored against the same masks

    def read(self, sample, ds: Dataset):
        image, mask = sample
        if image not in self._read:
            self._read[image] = self._decode(mask)
        return self._read[image]

    def _decode(self, mask):
        import numpy as np

        if isinstance(mask, tuple):  # a panoptic PNG with its segments
            path, segments = mask
            ids = panoptic_ids(path)
            keys = np.array(sorted(segments), dtype=np.uint32)
            cats = np.array([self.lut[segments[k]] for k in keys.tolist()] + [IGNORE], dtype=np.uint8)
            at = np.searchsorted(keys, ids)  # each pixel's segment by binary search: np.unique sorts every pixel
            known = (at < len(keys)) & (keys[np.minimum(at, len(keys) - 1)] == ids) if len(keys) else np.zeros(ids.shape, bool)
            return np.where(known, cats[np.minimum(at, len(keys))], IGNORE).astype(np.uint8)
        raw = read_mask(mask)
        return raw if self.lut is None else self.lut[raw]


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
    raise ZooError(f"{root} is neither a PASCAL VOC folder (JPEGImages/, SegmentationClass/, ImageSets/), a COCO "
                   "panoptic or semantic-mask folder (panoptic/annotations/panoptic_SPLIT.json; semantic/config.yaml), "
                   "nor an images/ + masks/ pair")


def samples_of(root: Path, split: str, labels: list[str]) -> tuple[str, str, list, Any, list[str]]:
    """(layout, split, samples, look-up table from the dataset's class ids to the model's or None, notes) of a segmentation
    dataset: COCO panoptic (crowd segments ignored) or class-index masks with a class-name list, both mapped to the
    model's labels by name (other classes are the model's background, unlabeled pixels are ignored); else VOC or
    plain pairs, whose masks hold the model's own class ids."""
    import json

    from zoo.tasks import coco

    if not root.is_dir():
        raise ZooError(f"{root} is not a folder", "give the dataset's folder")
    year = next(iter(sorted((root / "panoptic" / "annotations").glob(f"panoptic_{split}*.json"))), None) \
        if (root / "panoptic" / "annotations").is_dir() else None
    if year is not None:
        try:
            doc = json.loads(year.read_text(encoding="utf-8"))
            classes = {int(c["id"]): str(c["name"]) for c in doc["categories"]}
            folder = year.with_suffix("")
            images = root / "images" / year.stem.removeprefix("panoptic_")
            items = [(coco.inside(images, a["file_name"].replace(".png", ".jpg")),
                        (coco.inside(folder, a["file_name"]), {int(s["id"]): int(s["category_id"]) for s in a["segments_info"]
                                                   if not s.get("iscrowd")}))
                       for a in sorted(doc["annotations"], key=lambda a: a["file_name"])]
            for _, (png, segments) in items:
                for sid, cid in segments.items():
                    if not 0 <= sid <= 0xFFFFFF or cid not in classes:  # a PNG's RGB holds 24 bits; the table needs the id
                        raise ValueError(f"{png.name}'s segment {sid} (category {cid}) has an id outside 0-16777215 "
                                         "or a category the file does not list")
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ZooError(f"{year} is not a COCO panoptic annotation file zoo can read ({type(e).__name__}: {e})") from None
        lut, notes = _lookup(labels, classes, None)
        return "coco-panoptic", year.stem.removeprefix("panoptic_"), items, lut, [*notes, "crowd segments and unlabeled pixels ignored"]
    config = coco.find_yaml(root / "semantic" / "config.yaml", root / "config.yaml")
    if config is not None and (config.parent / "masks").is_dir():
        doc = coco.load_yaml(config)
        classes = coco.class_names(doc, config, "classes")
        entry = doc.get(split)
        if not isinstance(entry, dict) or not {"images", "masks"} <= set(entry):
            raise ZooError(f"{config} has no `{split}:` entry with images: and masks: folders", "give --split")
        masks, images = config.parent / entry["masks"], config.parent / entry["images"]
        stems = {p.stem: p for p in coco.images_in(images)}
        items = [(stems[p.stem], p) for p in coco.images_in(masks) if p.stem in stems]
        unlabeled = next((cid for cid, name in classes.items() if name.lower() in ("unlabeled", "ignore", "void")), None)
        lut, notes = _lookup(labels, classes, unlabeled)
        return "class-masks", masks.name, items, lut, [*notes, "unlabeled pixels ignored"]
    layout, pairs = samples(root, split)
    return layout, split if layout == "voc" else "all", pairs, None, []


MAX_CLASS_ID = 65535
"""A dataset's class ids index a table (one entry per id): a huge one would allocate gigabytes before any work."""


def _lookup(labels: list[str], classes: dict[int, str], unlabeled: int | None):
    """A table from a dataset's class ids to the model's (its background for classes it lacks, IGNORE for unlabeled)."""
    import numpy as np

    from zoo.tasks import coco

    if classes and (min(classes) < 0 or max(classes) > MAX_CLASS_ID):
        bad = min(classes) if min(classes) < 0 else max(classes)
        raise ZooError(f"the dataset's class id {str(bad)[:20]} is outside 0-{MAX_CLASS_ID}",
                       "number the dataset's classes from 0 (COCO's go up to 200)")
    mapped = coco.match_labels(labels, classes)
    background = next((i for i, label in enumerate(labels) if label.lower() in ("background", "bg")), None)
    if not mapped or background is None:
        raise ZooError("none of the model's classes names a class of this dataset" if not mapped else
                       "the model has no 'background' class for the dataset's other classes",
                       "segmentation is scored on classes the model and the dataset share by name")
    lut = np.full(max(max(classes), 255) + 1, background, dtype=np.uint8)
    for i, cid in mapped.items():
        lut[cid] = i
    if unlabeled is not None:
        lut[unlabeled] = IGNORE
    return lut, [coco.mapping_note(labels, {i: c for i, c in mapped.items()}, classes)
                 + f"; every other class is {labels[background]}"]


def panoptic_ids(path: Path) -> np.ndarray:
    """A COCO panoptic PNG's segment ids (R + 256 G + 256^2 B), read as one little-endian uint32 per RGBA pixel."""
    import numpy as np

    from zoo.images import open_image

    rgba = np.asarray(open_image(path).convert("RGBA"))
    return rgba.view("<u4")[..., 0] & np.uint32(0xFFFFFF)


def read_mask(path: Path) -> np.ndarray:
    """Class ids of a mask: a palette PNG's indices, or a greyscale image's values (8-bit, or 16/32-bit holding ids
    below 256). A colour or 1-bit image is refused: converting it to grey made its colours, or 0/1 as 0/255, into ids
    and scored them without a word."""
    import numpy as np

    from zoo.images import open_image

    mask = open_image(path)
    if mask.mode in ("P", "L"):
        return np.asarray(mask)
    if mask.mode in ("I", "I;16", "I;16B", "I;16L"):
        ids = np.asarray(mask)
        if ids.size and (ids.min() < 0 or ids.max() > 255):
            raise ZooError(f"{path} holds class id {int(ids.max() if ids.max() > 255 else ids.min())}; zoo reads ids 0-255",
                           "save the mask with one 8-bit channel of class ids")
        return ids.astype(np.uint8)
    raise ZooError(f"{path} is a {mask.mode} image, not a class-index mask",
                   "save the mask with one channel of class ids (an 8-bit greyscale or palette PNG)")


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
