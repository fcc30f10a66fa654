"""Turn an image into a model's input exactly as its manifest says (needs numpy and pillow: the run extra)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from zoo.manifest import Preprocessing


@dataclass(frozen=True)
class Prepared:
    """The float input (H, W, C), and the region of it the image covers (the rest is padding)."""

    array: np.ndarray
    valid_height: int
    valid_width: int


def prepare(image: Image.Image, pre: Preprocessing, height: int, width: int) -> Prepared:
    """Resize (stretch, or keep aspect and pad bottom/right with pad_value) then float = (pixel - mean) * scale."""
    rgb = image.convert("RGB")
    if pre.resize == "stretch":
        h, w = height, width
        canvas = np.asarray(rgb.resize((width, height), Image.BILINEAR), dtype=np.float32)
    else:
        ratio = min(width / rgb.width, height / rgb.height)
        w, h = max(1, round(rgb.width * ratio)), max(1, round(rgb.height * ratio))
        canvas = np.full((height, width, 3), pre.pad_value, dtype=np.float32)
        canvas[:h, :w] = np.asarray(rgb.resize((w, h), Image.BILINEAR), dtype=np.float32)
    array = (canvas - np.asarray(pre.mean, dtype=np.float32)) * np.asarray(pre.scale, dtype=np.float32)
    return Prepared(array.astype(np.float32), h, w)


def quantize(array: np.ndarray, q: tuple[float, int], dtype: str) -> np.ndarray:
    """Float input to an integer input tensor: round(x / scale + zero_point), clipped to the dtype."""
    scale, zero = q
    info = np.iinfo(dtype)
    return np.clip(np.round(array / scale + zero), info.min, info.max).astype(dtype)


def as_input(array: np.ndarray, detail: dict) -> np.ndarray:
    """A preprocessed (H, W, C) float array as the batch an interpreter input (`get_input_details()[i]`) takes,
    quantized with the tensor's own parameters when it is not float."""
    if detail["dtype"] != np.float32:
        array = quantize(array, detail["quantization"], np.dtype(detail["dtype"]).name)
    return array[None]
