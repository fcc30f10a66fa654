"""A model ready for application code: `predict(image)` prepares the image as the manifest says, runs the interpreter
with the target's delegate, and decodes the outputs with the model's task into a result."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.errors import RuntimeMissing, ZooError, install_extra
from zoo.tensors import Output
from zoo.progress import Progress
from zoo.runtime import Opened, open_model
from zoo.tasks import get_task
from zoo.tasks.base import Context

if TYPE_CHECKING:
    from zoo.preprocess import Prepared


def load(name: str, target: str = "auto", *, progress: Progress | None = None, cache_dir: str | os.PathLike | None = None,
         **interpreter_kwargs) -> Model:
    """The model `name` for this machine (or `target`), fetched and verified, with LiteRT and the target's delegate
    (falling back along the target's chain when the delegate cannot be loaded): ready to `predict(image)`.
    Fails before any download when the run extra (LiteRT, numpy, pillow) is missing."""
    missing = [m for m in ("numpy", "PIL") if importlib.util.find_spec(m) is None]
    if missing:
        raise RuntimeMissing(f"zoo.load needs {' and '.join(missing)} to prepare images", install_extra("run"))
    return Model(open_model(name, target, progress=progress, cache_dir=cache_dir, **interpreter_kwargs))


class Model:
    """`zoo.load(name)` returns one. `predict(image)` takes a path, a PIL image or an HxWxC uint8 array and returns the
    task's result (`.classes`, `.keypoints`, `.mask`; `.to_dict()` is what `zoo predict --json` prints). The LiteRT
    interpreter stays reachable as `.interpreter` for the raw tensors."""

    def __init__(self, opened: Opened):
        if opened.manifest is None:
            raise ZooError(f"{opened.path.name} is not an artifact of any manifest in the catalog",
                           "name the model it belongs to with --like NAME (for its preprocessing and outputs)")
        self.opened, self.manifest, self.artifact = opened, opened.manifest, opened.artifact
        self.interpreter, self.target, self.path = opened.interpreter, opened.target, opened.path
        self.task = get_task(self.manifest.task)
        self.outputs: list[Output] = self.manifest.outputs_of(self.artifact) if self.artifact else self.manifest.outputs
        self._input = self.interpreter.get_input_details()[0]
        self._outputs = _matched(self.outputs, self.interpreter.get_output_details(), opened.path)
        self._context = Context(self.manifest.parsed_head, self.outputs, self.manifest.labels, self.target)

    def prepare(self, image) -> Prepared:
        """The image as the model's float input (resized, padded, normalised as the manifest says)."""
        from zoo.preprocess import prepare

        return prepare(image, self.manifest.input)

    def run(self, prepared: Prepared) -> list:
        """The raw outputs for one prepared image, as numbers (dequantized), batch removed, in the manifest's order."""
        from zoo.preprocess import as_input, values

        self.interpreter.set_tensor(self._input["index"], as_input(prepared.array, self._input))
        self.interpreter.invoke()
        return [values(d, self.interpreter.get_tensor(d["index"]))[0] for d in self._outputs]

    def predict(self, image, **options: Any):
        """The task's result for one image (options go to the task's decoding, e.g. top_k=5 for classification)."""
        prepared = self.prepare(image)
        return self.task.decode(self.run(prepared), prepared, self._context, **options)

    def draw(self, image, result):
        """The picture `zoo predict -o` writes for `result` on `image` (a PIL image): the skeleton, the coloured mask,
        the best labels."""
        from zoo.preprocess import as_image

        return self.task.draw(as_image(image), result)

    def __repr__(self) -> str:
        return f"<zoo.Model {self.manifest.name}/{self.artifact.id if self.artifact else self.path.name} on {self.target}>"


def _matched(outputs: list[Output], details: list[dict], path: Path) -> list[dict]:
    """The interpreter's output details in the manifest's order: by name where the manifest names a tensor (exactly,
    or as the end of a longer name), else by position."""
    if len(details) != len(outputs):
        raise ZooError(f"{path.name} has {len(details)} output(s) but its manifest describes {len(outputs)}",
                       "describe every output of the file in the manifest (zoo init writes them)")
    matched = []
    for i, o in enumerate(outputs):
        if o.name is None:
            matched.append(details[i])
            continue
        found = [d for d in details if d["name"] == o.name] or [d for d in details if d["name"].endswith(o.name)]
        if len(found) != 1:
            raise ZooError(f"{path.name} has no single output named {o.name!r} (it has: "
                           f"{', '.join(d['name'] for d in details)})", "fix the output's name in the manifest")
        matched.append(found[0])
    return matched
