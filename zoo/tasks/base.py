"""The interface a task implements, and a dataset as `zoo eval` reads it through a task: see zoo/tasks/__init__.py."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from zoo.errors import ZooError
from zoo.schema import Strict

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np
    from PIL import Image

    from zoo.manifest import Manifest, Output
    from zoo.preprocess import Prepared


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

    def metric(self, m: Manifest) -> str:
        """The figure `zoo eval` heads its report with for this model (`zoo list` shows zoo's measured one)."""
        return self.headline

    def dataset(self, data: Path, m: Manifest, split: str) -> Dataset:
        """The samples of a dataset folder in a layout this task reads, with their truth as this model's classes."""
        raise ZooError(f"zoo eval has no dataset reader for {self.name} yet",
                       "evaluate with your own loop over zoo.load(NAME).predict(image)")

    def eval_prediction(self, model, image: Image.Image, ds: Dataset):
        """What `zoo eval` keeps of one image's prediction (scored and compared with the reference's later)."""
        return model.predict(image)

    def read_truth(self, ds: Dataset, sample) -> None:
        """Read (and keep) a sample's truth ahead of scoring: zoo eval does it on a second thread while the model
        runs, so reading masks costs no time of its own. Nothing for tasks whose truth came with the dataset."""

    def score(self, ds: Dataset, predictions: list) -> dict[str, Any]:
        """The figures (in percent) of predictions, one per sample of `ds` (None for a skipped image); the headline
        figure is named by ds.metric."""
        raise NotImplementedError

    def agree(self, reference: list, candidate: list, m: Manifest) -> float:
        """How much a file's predictions agree with the reference file's on the same images, in percent."""
        raise NotImplementedError

    def agree_unit(self, m: Manifest) -> str:
        return self.agreement_unit(m)


def images_only(data: Path, split: str, no_metric: str) -> Dataset:
    """A dataset of images without truth that a task reads (agreement only): IMAGES/SPLIT*/, SPLIT/ or the folder's
    own images."""
    from zoo.tasks.coco import images_in

    if not data.is_dir():
        raise ZooError(f"{data} is not a folder", "give a folder of images")
    folders = [*sorted((data / "images").glob(f"{split}*")), data / split, data, data / "images"]
    found = next(((f, images) for f in folders if (images := images_in(f))), None)
    if found is None:
        raise ZooError(f"no images in {data} (nor in its images/{split}*/ or {split}/)", "give a folder of images")
    folder, images = found
    return Dataset(data.name, folder.name if folder != data else "all", "images", [(p, None) for p in images], None,
                   no_metric)


@dataclass
class Dataset:
    """A dataset as a task reads it: (image, truth) samples, what was skipped while reading and why, how the dataset's
    classes were mapped to the model's (printed), and the metric, or why there is none (agreement only)."""

    name: str
    split: str
    layout: str
    samples: list
    metric: str | None
    no_metric: str | None = None
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    truth: Any = None  # what scoring needs besides the samples (e.g. pycocotools' ground truth)
    unscored: set = field(default_factory=set)  # images whose truth cannot be read (listed in skipped)
