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

    from zoo.preprocess import Prepared
    from zoo.tensors import Output


PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
"""What `zoo predict -o` writes pictures as (by the file's extension, as Pillow saves them)."""


@dataclass(frozen=True)
class Context:
    """What decoding and agreement need besides the tensors: the parsed head, the artifact's outputs, the class names
    by class id (Task.labels of the head) and the target it ran on."""

    head: Any
    outputs: list[Output]
    labels: list[str]
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

    def labels(self, head) -> list[str]:
        """Class names by class id, for tasks that have classes (else empty)."""
        return list(getattr(head, "labels", []))

    def headline_metrics(self, metrics: list) -> list:
        """A manifest's figures of this task's headline metric (what `zoo list` and the card show)."""
        return [x for x in metrics if x.name == self.headline]

    def describe_head(self, head) -> str:
        """The head in a line (`zoo info`, the card): the keypoint names, or the classes."""
        if hasattr(head, "keypoints"):
            return f"keypoints {len(head.keypoints)}: {', '.join(head.keypoints)}"
        labels = self.labels(head)
        sep = "; " if any("," in label for label in labels) else ", "
        shown = sep.join(labels) if len(labels) <= 30 else sep.join(labels[:12]) + f"{sep}... ({len(labels) - 12} more)"
        ignore = getattr(head, "ignore_label", None)
        return f"classes {len(labels)}: {shown}" + (f" (ignore label {ignore})" if ignore is not None else "")

    def init_kind(self, shape: list[int], dtype: str, softmax: bool) -> str:
        """The kind `zoo init` writes for an output of this shape and dtype (softmax: the graph has a SOFTMAX)."""
        raise ZooError(f"zoo init cannot describe the outputs of {self.name} models yet", "write its manifest by hand")

    def init_head(self, outputs: list[dict], labels: list[str] | None, name: str, classes: int | None = None) -> dict:
        """The head `zoo init` writes for these outputs of the model `name`: the labels given, or the class ids as
        names. The labels must be as many as the classes scored: the output's last dimension, or for class ids
        `classes`, what the graph chooses among (an ARG_MAX's channels; None when the file does not say)."""
        out = outputs[0]
        scored = out["shape"][-1] if out["kind"] != "class-ids" else classes
        if labels is None:
            if out["kind"] == "class-ids":
                raise ZooError("a segmentation model that outputs class ids needs --labels FILE (one label a line)")
            labels = [str(i) for i in range(scored)]
        elif scored is not None and len(labels) != scored:
            what = "the ArgMax that makes its class ids reads" if out["kind"] == "class-ids" else "the model's output has"
            raise ZooError(f"the label file has {len(labels)} labels but {what} {scored} classes",
                           "give one label a line, in class-id order, for every class the output scores")
        return {"labels": labels}

    def decode(self, outputs: list[np.ndarray], prepared: Prepared, ctx: Context, **options: Any):
        """The result of one image from the model's outputs (numbers, batch removed, in the order of ctx.outputs)."""
        raise NotImplementedError

    def agreement(self, reference: list[np.ndarray], candidate: list[np.ndarray], ctx: Context) -> tuple[int, int]:
        """(agreeing, compared) units between a float reference's raw batch outputs and a built model's."""
        raise NotImplementedError

    def agreement_unit(self, ctx: Context) -> str:
        return "outputs"

    def text(self, result) -> str:
        """What `zoo predict` prints for a person."""
        raise NotImplementedError

    def draw(self, image: Image.Image, result) -> Image.Image:
        """The picture `zoo predict -o` writes."""
        raise NotImplementedError

    def pictures(self, image: Image.Image, result, path: Path) -> dict[str, tuple[Path, Image.Image]]:
        """What `zoo predict -o PATH` writes, by what each picture is: (its path, the picture)."""
        return {"picture": (path, self.draw(image, result))}

    def output_name(self, image: Path) -> str:
        """The file name `zoo predict -o FOLDER/` writes into the folder."""
        return f"{image.stem}_{self.name}.png"

    def write(self, image: Image.Image, result, path: Path, replace: bool = False) -> dict[str, str]:
        """Write the pictures (see write_pictures); returns their paths by what they are."""
        return write_pictures(self.pictures(image, result, path), replace)

    def metric(self, ctx: Context) -> str:
        """The figure `zoo eval` heads its report with for this model (`zoo list` shows zoo's measured one)."""
        return self.headline

    def dataset(self, data: Path, ctx: Context, split: str) -> Dataset:
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
        """The figures (in percent) of predictions, one per sample of `ds`; the headline
        figure is named by ds.metric."""
        raise NotImplementedError

    def agree(self, reference: list, candidate: list, ctx: Context) -> float:
        """How much a file's predictions agree with the reference file's on the same images, in percent."""
        raise NotImplementedError

    def agree_unit(self, ctx: Context) -> str:
        return self.agreement_unit(ctx)


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


def refuse_existing(paths: list[Path], replace: bool = False) -> None:
    """ZooError naming the first of `paths` that exists (a link, even a dangling one, included) unless `replace`."""
    import os

    there = [p for p in paths if os.path.lexists(p)]
    if there and not replace:
        raise ZooError(f"{there[0]} exists; zoo predict writes only new files",
                       "pass --force to replace it, or choose another -o path")


def write_pictures(pictures: dict[str, tuple[Path, Image.Image]], replace: bool = False) -> dict[str, str]:
    """Each picture as a new file, in the format its name says; all or none. A path that exists (a file, a link, a
    dangling link) is refused unless `replace`, which replaces the entry itself in one rename, never what a link
    points at: zoo never writes over a file it was not told to, nor through a link it did not make."""
    import io

    from PIL import Image

    from zoo import atomic

    formats = Image.registered_extensions()
    encoded = {}
    for path, picture in pictures.values():
        fmt = formats.get(path.suffix.lower())
        if fmt is None or fmt not in Image.SAVE:
            raise ZooError(f"zoo cannot write a picture named {path.name} (no image format has the extension "
                           f"{path.suffix or 'of an empty suffix'!r})", "name the file .png or .jpg")
        buffer = io.BytesIO()
        picture.convert("RGB").save(buffer, fmt) if fmt == "JPEG" else picture.save(buffer, fmt)
        encoded[path] = buffer.getvalue()
    refuse_existing(list(encoded), replace)
    done: list[Path] = []
    try:
        for path, data in encoded.items():
            atomic.create(path, data, replace)
            done.append(path)
    except BaseException:
        if not replace:
            for path in done:
                path.unlink(missing_ok=True)
        raise
    return {what: str(path) for what, (path, _) in pictures.items()}


@dataclass
class Dataset:
    """A dataset as a task reads it: (image, truth) samples, how the dataset's
    classes were mapped to the model's (printed), and the metric, or why there is none (agreement only)."""

    name: str
    split: str
    layout: str
    samples: list
    metric: str | None
    no_metric: str | None = None
    notes: list[str] = field(default_factory=list)
    truth: Any = None  # what scoring needs besides the samples (e.g. pycocotools' ground truth)
