"""Run a segmentation model on an image the way its manifest says: preprocess, invoke, map the output back."""

from __future__ import annotations

import numpy as np
from PIL import Image

from zoo.errors import ZooError
from zoo.preprocess import as_input, prepare
from zoo.runtime import Opened


class Segmenter:
    """Class ids at the original image size for any image, from an opened model and its manifest."""

    def __init__(self, opened: Opened):
        if opened.manifest is None:
            raise ZooError(f"{opened.path.name} is not an artifact of any manifest in the catalog",
                           "name the model it belongs to with --like NAME (for its preprocessing and classes)")
        self.opened, self.manifest = opened, opened.manifest
        self.interpreter = opened.interpreter
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        _, self.height, self.width, _ = self.input["shape"]

    def __call__(self, image: Image.Image) -> np.ndarray:
        prepared = prepare(image, self.manifest.input.preprocessing, self.height, self.width)
        self.interpreter.set_tensor(self.input["index"], as_input(prepared.array, self.input))
        self.interpreter.invoke()
        out = self.interpreter.get_tensor(self.output["index"])[0]
        ids = (out.argmax(-1) if out.ndim == 3 else out).astype(np.uint8)
        if ids.shape != (self.height, self.width):  # logits at the output stride: back to the input grid
            ids = np.asarray(Image.fromarray(ids).resize((self.width, self.height), Image.NEAREST))
        ids = ids[: prepared.valid_height, : prepared.valid_width]
        return np.asarray(Image.fromarray(ids).resize(image.size, Image.NEAREST))


def pascal_palette() -> np.ndarray:
    """The PASCAL VOC colour map (256 x 3, uint8): each label's bits spread over the high bits of R, G and B."""
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
