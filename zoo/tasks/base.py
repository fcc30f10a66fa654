"""The interface a task implements, and what `zoo eval` returns: see zoo/tasks/__init__.py."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from zoo.errors import ZooError
from zoo.schema import Strict

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np
    from PIL import Image

    from zoo.manifest import Manifest, Output
    from zoo.preprocess import Prepared


PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
"""What `zoo predict -o` writes pictures as (by the file's extension, as Pillow saves them)."""


@dataclass(frozen=True)
class Context:
    """What decoding needs besides the tensors: the manifest, the artifact's outputs, the target it ran on."""

    manifest: Manifest
    outputs: list[Output]
    target: str | None = None


class Task:
    """The interface every task module implements (one subclass and one instance per module)."""

    name: ClassVar[str]
    Head: ClassVar[type[Strict]]
    layouts: ClassVar[tuple[tuple[str, ...], ...]]  # the output kinds it reads, in order: each tuple one accepted layout
    headline: ClassVar[str]  # the metric `zoo list` and the card show
    hub_tag: ClassVar[str]  # the Hugging Face pipeline tag

    def problems(self, outputs: list[Output], head) -> Iterator[tuple[str, str]]:
        """Problems between the head and a list of outputs, as (field below the list, message): the kinds, in order."""
        kinds = [o.kind for o in outputs]
        if not any(list(want) == kinds for want in self.layouts):
            yield "", (f"a {self.name} model's outputs are of kinds {' or '.join(', '.join(w) for w in self.layouts)}; "
                       f"these are {', '.join(kinds)}")

    def labels(self, m: Manifest) -> list[str]:
        return list(getattr(m.parsed_head, "labels", []))

    def decode(self, outputs: list[np.ndarray], prepared: Prepared, ctx: Context, **options: Any):
        """The result of one image from the model's outputs (numbers, batch removed, in the order of ctx.outputs)."""
        raise NotImplementedError

    def agreement(self, reference: list[np.ndarray], candidate: list[np.ndarray], m: Manifest) -> tuple[int, int]:
        """(agreeing, compared) units between a float reference's raw batch outputs and a built model's."""
        raise NotImplementedError

    def agreement_unit(self, m: Manifest) -> str:
        return "outputs"

    def text(self, result) -> str:
        """What `zoo predict` prints for a person."""
        raise NotImplementedError

    def draw(self, image: Image.Image, result) -> Image.Image:
        """The picture `zoo predict -o` writes."""
        raise NotImplementedError

    def write(self, image: Image.Image, result, path: Path) -> dict[str, str]:
        """Write what `zoo predict -o PATH` writes; returns the files by what they are."""
        self.draw(image, result).save(path)
        return {"picture": str(path)}

    def default_output(self, image: Path) -> Path | None:
        """What `zoo predict` writes without -o (None: nothing)."""
        return None

    def evaluate(self, model, data: Path, split: str, limit: int | None, progress) -> Evaluation:
        raise ZooError(f"zoo eval has no dataset reader for {self.name} yet",
                       "evaluate with your own loop over zoo.load(NAME).predict(image)")


@dataclass
class Evaluation:
    """What `zoo eval` found: the dataset it read and how (its layout), the figures (in percent) and the headline
    metric's value, which is compared with the manifest's figures of the same name."""

    dataset: str
    split: str
    images: int
    layout: str
    figures: dict[str, Any]
    metric: str
    value: float

    def to_dict(self) -> dict:
        return {"dataset": self.dataset, "split": self.split, "layout": self.layout, "images": self.images, "unit": "%",
                **self.figures}

    def comparisons(self, m: Manifest, artifact: str | None) -> list[dict]:
        """The manifest's figures of this metric for this artifact on the same dataset and split, with the difference."""
        return [{"value": x.value, "source": x.source, "dataset": x.dataset, "split": x.split, "images": x.images,
                 "difference": round(self.value - x.value, 2)}
                for x in m.metrics if x.name == self.metric and artifact and x.applies_to == artifact and x.unit == "%"
                and x.dataset == self.dataset and x.split == self.split]

    def metric_entry(self, artifact: str, command: str, today: str) -> dict:
        """A manifest `metrics` entry (source: measured) for this evaluation."""
        return {"name": self.metric, "value": round(self.value, 2), "unit": "%", "dataset": self.dataset,
                "split": self.split, "applies_to": artifact, "images": self.images, "source": "measured",
                "command": command, "date": today}
