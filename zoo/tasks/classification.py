"""Image classification: the top classes and their scores; agreement by top-1; top-1 and top-5 accuracy on an
ImageFolder-style tree (one sub-folder per class, named by its label, its id or its ImageNet WNID; optionally below a
split folder such as val/)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
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
    labels: list[str] = Field(min_length=1, description="class names; the score at index i is labels[i + label_offset]")
    label_offset: int = Field(default=0, ge=0, description="labels before the first score (e.g. 1 when the list starts "
                              "with 'background' and the model scores only the real classes)")


@dataclass(frozen=True)
class Class:
    id: int
    label: str
    score: float


@dataclass
class Classification:
    """The best classes, best first."""

    classes: list[Class] = field(default_factory=list)
    target: str | None = None

    def to_dict(self) -> dict:
        return {"task": TASK.name, "target": self.target,
                "classes": [{"id": c.id, "label": c.label, "score": round(c.score, 6)} for c in self.classes]}


class Classifying(Task):
    name = "image-classification"
    Head = Head
    layouts = (("scores",), ("logits",))
    headline = "top-1"
    hub_tag = "image-classification"

    def problems(self, outputs: list[Output], head: Head) -> Iterator[tuple[str, str]]:
        yield from super().problems(outputs, head)
        classes = outputs[0].shape[-1]
        if classes + head.label_offset != len(head.labels):
            yield "[0].shape", (f"{classes} scores with label_offset {head.label_offset} need {classes + head.label_offset} "
                                f"labels; head.labels has {len(head.labels)}")

    def labels(self, head: Head) -> list[str]:
        return list(head.labels[head.label_offset:])

    def init_kind(self, shape: list[int], dtype: str, softmax: bool) -> str:
        return "scores" if softmax or dtype == "uint8" else "logits"

    def decode(self, outputs: list[np.ndarray], prepared: Prepared, ctx: Context, top_k: int = 5,
               **options: Any) -> Classification:
        import numpy as np

        scores = probabilities(outputs[0], ctx.outputs[0].kind)
        labels = ctx.labels
        best = np.argsort(-scores, kind="stable")[:top_k]
        return Classification([Class(int(i), labels[i], float(scores[i])) for i in best], ctx.target)

    def agreement(self, reference: list[np.ndarray], candidate: list[np.ndarray], ctx: Context) -> tuple[int, int]:
        return int(reference[0].reshape(-1).argmax() == candidate[0].reshape(-1).argmax()), 1

    def agreement_unit(self, ctx: Context) -> str:
        return "images (top-1)"

    def text(self, result: Classification) -> str:
        from zoo.text import table

        return table(("id", "label", "score"), [(c.id, c.label, f"{c.score:.4f}") for c in result.classes])

    def draw(self, image: Image.Image, result: Classification) -> Image.Image:
        from PIL import ImageDraw

        picture = image.convert("RGB")
        pen = ImageDraw.Draw(picture)
        for i, c in enumerate(result.classes[:3]):
            text = f"{c.label} {c.score:.2f}"
            box = pen.textbbox((6, 6 + 14 * i), text)
            pen.rectangle(box, fill=(0, 0, 0))
            pen.text((6, 6 + 14 * i), text, fill=(255, 255, 0))
        return picture

    def dataset(self, data: Path, ctx: Context, split: str) -> Dataset:
        root, split = (data / split, split) if (data / split).is_dir() else (data, "all")
        samples, notes = image_folder(root, ctx.labels, synsets(data))
        if not samples:
            raise ZooError(f"no images under {root}'s class folders",
                           "give a folder with one sub-folder of images per class, named by its label, id or WNID")
        return Dataset(data.name, split, "image-folder", samples, "top-1", notes=notes)

    def eval_prediction(self, model, image: Image.Image, ds: Dataset) -> list[int]:
        return [c.id for c in model.predict(image, top_k=5).classes]

    def score(self, ds: Dataset, predictions: list) -> dict[str, Any]:
        pairs = [(ranked, truth) for ranked, (_, truth) in zip(predictions, ds.samples)]
        n = len(pairs) or 1
        return {"top-1": round(100 * sum(r[:1] == [t] for r, t in pairs) / n, 4),
                "top-5": round(100 * sum(t in r for r, t in pairs) / n, 4)}

    def agree(self, reference: list, candidate: list, ctx: Context) -> float:
        pairs = [(a[0], b[0]) for a, b in zip(reference, candidate)]
        return round(100 * sum(a == b for a, b in pairs) / (len(pairs) or 1), 4)

    def agree_unit(self, ctx: Context) -> str:
        return "same top-1"


def probabilities(scores: np.ndarray, kind: str) -> np.ndarray:
    """A score per class from the model's output: its scores as they are, or the softmax of its logits."""
    import numpy as np

    flat = np.asarray(scores, dtype=np.float32).reshape(-1)
    if kind == "logits":
        e = np.exp(flat - flat.max())
        return e / e.sum()
    return flat


SYNSET_FILES = ("synsets.txt", "LOC_synset_mapping.txt", "synset_words.txt")
"""How ImageNet users keep the WNID -> class index map beside the data (one class a line, in index order)."""


def synsets(root: Path) -> list[str]:
    """WNIDs in class-index order from the first SYNSET_FILES file in `root` (lines `index WNID name`, or
    `WNID name`), or [] when there is none."""
    for name in SYNSET_FILES:
        path = root / name
        if path.is_file():
            rows = [line.split() for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
            return [row[1] if row[0].isdigit() and len(row) > 1 else row[0] for row in rows]
    return []


def image_folder(root: Path, labels: list[str], wnids: list[str] | None = None) -> tuple[list[tuple[Path, int]], list[str]]:
    """(image, class id) of an ImageFolder-style tree, and how its folders were mapped: each sub-folder is a class,
    named by its label (or the label's first comma-separated name, case-insensitively), its id, or its WNID (through
    a synsets list; a model with one class more than the list has 'background' first, so its id is index + 1)."""
    if not root.is_dir():
        raise ZooError(f"{root} is not a folder", "give a folder with one sub-folder per class")
    names = {}
    for i, label in enumerate(labels):
        for name in (label, label.split(",")[0]):
            names.setdefault(name.strip().lower(), i)
    offset = len(labels) - len(wnids) if wnids else 0
    by_wnid = {w.lower(): i + offset for i, w in enumerate(wnids or [])} if offset in (0, 1) else {}
    items, how = [], set()
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        key = folder.name.strip().lower()
        if key in by_wnid:
            truth, kind = by_wnid[key], "WNID"
        elif key.isdigit() and int(key) < len(labels):
            truth, kind = int(key), "class id"
        else:
            truth, kind = names.get(key), "label"
        if truth is None:
            hint = f"name each class folder by its label (e.g. {labels[min(1, len(labels) - 1)]!r}), its id"
            raise ZooError(f"{folder} is named neither by a label nor by a class id of this model"
                           + (" nor by a WNID of its synsets list" if by_wnid else ""),
                           hint + (" or its WNID (with a synsets.txt beside the split folder)" if not by_wnid else ""))
        how.add(kind)
        items += [(p, truth) for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    notes = [f"class folders named by {' and '.join(sorted(how))}"
             + (f" (WNIDs by their line in the synsets list: class id = line + {offset})" if "WNID" in how else "")] if how else []
    return items, notes


TASK = Classifying()
