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


def class_shares(ids: np.ndarray, labels: list[str]) -> list[tuple[str, float]]:
    """(label, share of the pixels) of every class present, largest first."""
    values, counts = np.unique(ids, return_counts=True)
    return sorted(((labels[v] if v < len(labels) else str(v), c / ids.size) for v, c in zip(values, counts)), key=lambda x: -x[1])


def predict(segmenter: Segmenter, image: Image.Image, mask_path) -> dict:
    """Segment one RGB image and write beside `mask_path` (NAME_mask.png): the PASCAL-coloured mask, the class ids
    (NAME_ids.png, greyscale, as `zoo eval` reads masks) and an overlay (NAME_overlay.png)."""
    ids = segmenter(image)
    stem = mask_path.stem.removesuffix("_mask")
    overlay_path, ids_path = mask_path.with_name(f"{stem}_overlay.png"), mask_path.with_name(f"{stem}_ids.png")
    colours = Image.fromarray(pascal_palette()[ids])
    colours.save(mask_path)
    Image.fromarray(ids.astype(np.uint8), mode="L").save(ids_path)
    Image.blend(image, colours, 0.5).save(overlay_path)
    return {"mask": str(mask_path), "ids": str(ids_path), "overlay": str(overlay_path), "target": segmenter.opened.target,
            "classes": [{"label": label, "share": share} for label, share in class_shares(ids, segmenter.manifest.classes.labels)]}
