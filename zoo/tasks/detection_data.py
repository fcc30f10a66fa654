"""Detection datasets and their scoring: COCO instances JSON, or YOLO txt labels with a data.yaml-style `names` list;
AP@[.5:.95] and AP50 by pycocotools on zoo's own predictions, the model's classes mapped to the dataset's by label
name (or by a declared offset)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from zoo.errors import RuntimeMissing, ZooError
from zoo.tasks import coco
from zoo.tasks.base import Dataset

NAMES_FILES = ("data.yaml", "dataset.yaml", "config.yaml", "coco.yaml")


def read(root: Path, labels: list[str], split: str, offset: int | None = None) -> Dataset:
    """The samples (image, image id) and pycocotools-ready ground truth of a COCO or YOLO detection folder."""
    if not root.is_dir():
        raise ZooError(f"{root} is not a folder", "give the dataset's folder")
    found = _instances(root, split) or _yolo(root, split)
    if found is None:
        raise ZooError(f"{root} holds neither COCO instances (annotations/instances_{split}*.json) nor YOLO labels "
                       f"(labels/{split}/ or detection/labels/{split}/ with a {' or '.join(NAMES_FILES)} naming the classes)",
                       "give --split the split's folder name (e.g. val2017)")
    layout, split, gt, samples = found
    classes = {c["id"]: c["name"] for c in gt["categories"]}
    mapped = ({i: i + offset for i in range(len(labels)) if i + offset in classes} if offset is not None
              else coco.match_labels(labels, classes))
    if not samples:
        raise ZooError(f"no images with labels under {root}")
    ds = Dataset(root.name, split, layout, samples, "mAP", truth={"gt": gt, "categories": {labels[i]: c for i, c in mapped.items()}})
    if not mapped:
        ds.metric, ds.no_metric = None, (f"the dataset has no class of this model ({', '.join(labels[:5])}): no ground "
                                         "truth, so agreement with the reference file only")
    else:
        ds.notes.append(coco.mapping_note(labels, mapped, classes, offset))
    return ds


def _instances(root: Path, split: str):
    annotations = root / "annotations"
    path = next(iter(sorted(annotations.glob(f"instances_{split}*.json"))), None) if annotations.is_dir() else None
    if path is None:
        return None
    try:
        gt = json.loads(path.read_text(encoding="utf-8"))
        name = path.stem.removeprefix("instances_")
        folder = next((f for f in (root / "images" / name, root / name, root / "images") if f.is_dir()), root)
        samples = [(coco.inside(folder, img["file_name"]), int(img["id"])) for img in sorted(gt["images"], key=lambda i: i["file_name"])]
        gt["categories"] = [{"id": int(c["id"]), "name": str(c["name"])} for c in gt["categories"]]
        _check_instances(gt)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ZooError(f"{path} is not a COCO instances file zoo can read ({type(e).__name__}: {e})") from None
    return "coco-instances", name, gt, samples


def _number(value, what: str, positive: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0 \
            or (positive and value == 0):
        raise ValueError(f"{what} is {str(value)[:40]!r}, not a finite {'positive' if positive else 'non-negative'} number")


def _check_instances(gt: dict) -> None:
    """What pycocotools reads unchecked: a wrong field there was a traceback in COCOeval, or a box silently dropped
    (NaN, or an image or category the file does not list) and the rest scored as if it were not there."""
    images = set()
    for k, img in enumerate(gt["images"]):
        if isinstance(img["id"], bool) or not isinstance(img["id"], int) or img["id"] in images:
            raise ValueError(f"images[{k}] has id {str(img['id'])[:40]!r}, not a unique integer")
        images.add(img["id"])
        _number(img["width"], f"images[{k}].width", positive=True)
        _number(img["height"], f"images[{k}].height", positive=True)
    categories = {c["id"] for c in gt["categories"]}
    for k, ann in enumerate(gt["annotations"]):
        if ann["image_id"] not in images or ann["category_id"] not in categories:
            raise ValueError(f"annotations[{k}] names image {str(ann['image_id'])[:40]!r} and category "
                             f"{str(ann['category_id'])[:40]!r}; the file does not list both")
        box = ann["bbox"]
        if not isinstance(box, list) or len(box) != 4:
            raise ValueError(f"annotations[{k}].bbox is {str(box)[:40]!r}, not [x, y, width, height]")
        for name, v in zip(("x", "y", "width", "height"), box):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"annotations[{k}].bbox {name} is {str(v)[:40]!r}, not a finite number")
        _number(box[2], f"annotations[{k}].bbox width")
        _number(box[3], f"annotations[{k}].bbox height")
        _number(ann["area"], f"annotations[{k}].area")
        if not isinstance(ann.get("id"), int):
            raise ValueError(f"annotations[{k}] has id {str(ann.get('id'))[:40]!r}, not an integer")
        if ann.get("iscrowd", 0) not in (0, 1):
            raise ValueError(f"annotations[{k}].iscrowd is {str(ann['iscrowd'])[:40]!r}, not 0 or 1")


def _yolo(root: Path, split: str):
    """YOLO labels as pycocotools ground truth in the labels' own normalised coordinates (each image 1 x 1: AP@[.5:.95]
    and AP50 depend on IoUs only, which stretching an axis leaves as they are), so no image is opened to read."""
    bases = (root, root / "detection")
    names_file = coco.find_yaml(*(b / n for b in bases for n in NAMES_FILES))
    if names_file is None:
        return None
    doc = coco.load_yaml(names_file)
    entry = doc.get(split)
    folder = Path(entry).name if isinstance(entry, str) else split
    labels = next((b / "labels" / folder for b in bases if (b / "labels" / folder).is_dir()), None)
    if labels is None:
        return None
    images = next((f for f in (labels.parent.parent / "images" / folder, root / "images" / folder) if f.is_dir()), None)
    if images is None:
        raise ZooError(f"no images/{folder}/ beside {labels}")
    classes = coco.class_names(doc, names_file)
    gt = {"images": [], "annotations": [], "categories": [{"id": i, "name": n} for i, n in sorted(classes.items())]}
    samples = []
    for i, image in enumerate(coco.images_in(images)):
        samples.append((image, i))
        gt["images"].append({"id": i, "file_name": image.name, "width": 1, "height": 1})
        label = labels / f"{image.stem}.txt"
        if not label.is_file():
            continue
        for n, line in enumerate(label.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                cls, *values = line.split()
                cls, values = int(cls), [float(v) for v in values]
                if len(values) > 5 and len(values) % 2 == 0:  # a polygon (YOLO segment label): its extent, as
                    # ultralytics' segments2boxes reads it; its first four numbers are no box
                    xs, ys = values[0::2], values[1::2]
                    values = [(min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2, max(xs) - min(xs), max(ys) - min(ys)]
                cx, cy, w, h = values
            except ValueError:
                raise ZooError(f"{label}:{n} is not a YOLO box (`class cx cy w h`, normalised): {line.strip()[:60]!r}") from None
            if cls not in classes:
                raise ZooError(f"{label}:{n}: class {cls} is not in {names_file}'s names (0-{max(classes)})")
            if not all(map(math.isfinite, (cx, cy, w, h))) or w < 0 or h < 0:
                # pycocotools drops a NaN-area box without a word and scores the rest: the figure would be wrong
                raise ZooError(f"{label}:{n} is not a YOLO box (`class cx cy w h`, finite, w and h >= 0): {line.strip()[:60]!r}")
            gt["annotations"].append({"id": len(gt["annotations"]) + 1, "image_id": i, "category_id": cls,
                                      "bbox": [cx - w / 2, cy - h / 2, w, h], "area": w * h, "iscrowd": 0})
    return "yolo", folder, gt, samples


def score(ds: Dataset, predictions: list) -> dict[str, Any]:
    """AP@[.5:.95] ("mAP") and AP50 in percent, by pycocotools' COCOeval over the scored images and the categories the
    model maps to."""
    import contextlib
    import io

    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        raise RuntimeMissing("detection AP is computed by pycocotools, which is not installed",
                             "pip install 'edge-model-zoo[eval]'") from None
    gt, categories = ds.truth["gt"], ds.truth["categories"]
    sizes = {img["id"]: (img["width"], img["height"]) for img in gt["images"]}
    results, scored = [], []
    for (_, image_id), found in zip(ds.samples, predictions):
        scored.append(image_id)
        w, h = sizes[image_id]
        results += [{"image_id": image_id, "category_id": categories[d.label], "score": round(d.score, 5),
                     "bbox": [d.box.xmin * w, d.box.ymin * h, (d.box.xmax - d.box.xmin) * w, (d.box.ymax - d.box.ymin) * h]}
                    for d in found if d.label in categories]
    if not results:
        return {"mAP": 0.0, "AP50": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress and table
        truth = COCO()
        truth.dataset = {**gt, "images": list(gt["images"]), "annotations": list(gt["annotations"])}
        truth.createIndex()
        evaluation = COCOeval(truth, truth.loadRes(results), "bbox")
        evaluation.params.imgIds = scored
        evaluation.params.catIds = sorted(set(categories.values()))
        evaluation.params.areaRng, evaluation.params.areaRngLbl = [[0, 1e10]], ["all"]  # the small/medium/large
        # figures are not reported (and mean nothing in YOLO's normalised units): not computing them takes 3/4 off
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    ap, ap50 = (max(0.0, float(v)) * 100 for v in evaluation.stats[:2])
    return {"mAP": round(ap, 4), "AP50": round(ap50, 4)}
