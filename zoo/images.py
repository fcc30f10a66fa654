"""Opening image files zoo did not make: a size cap before any pixel is decoded, every failure one line, 16-bit
greyscale as the 8 bits a model takes (needs numpy and pillow: the run extra). It imports nothing of zoo's but its
errors, so the tasks read datasets through it without an import circle."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from zoo.errors import ZooError

MAX_PIXELS = 150_000_000
"""The most pixels zoo decodes from one file: a 150-megapixel medium-format photo (450 MB as RGB). A header claiming
more (a decompression bomb: a few KB of zeros that say 30000 x 30000) is refused before any pixel is decoded; Pillow's
own check would let up to 179 M through and only warn from 89 M."""
SIXTEEN_BIT = {"I;16", "I;16L", "I;16B", "I;16N", "I"}
"""Greyscale modes Pillow opens 16-bit PNG and TIFF files in (values 0..65535)."""


def open_image(path: Path) -> Image.Image:
    """The decoded image in `path`, in the mode the file has; ZooError in one line for a file that is not an image
    Pillow reads or that claims more than MAX_PIXELS."""
    if not path.is_file():
        raise ZooError(f"{path}: no such file" if not path.exists() else f"{path} is not a file",
                       "give the path of an image (JPEG, PNG, BMP)")
    try:
        with open(path, "rb") as f, warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # MAX_PIXELS decides, below
            picture = Image.open(f)
            width, height = picture.size
            if width * height > MAX_PIXELS:
                raise Image.DecompressionBombError(f"{width} x {height}")
            picture.load()  # all of it, so the image outlives the file
            return picture
    except Image.DecompressionBombError:
        raise ZooError(f"{path} claims more than the {MAX_PIXELS:,} pixels zoo decodes (a decompression bomb, or a "
                       "photo far larger than any model's input)", "scale it down first") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ZooError(f"{path} is not an image zoo can read ({type(e).__name__})", "give a JPEG, PNG or BMP file") from None


def eight_bit(picture: Image.Image) -> Image.Image:
    """A 16-bit greyscale image as 8-bit greyscale, its top 8 bits (Pillow's own convert("L") clips every value
    above 255 to white)."""
    if picture.mode not in SIXTEEN_BIT:
        return picture
    values = np.asarray(picture).astype(np.int64)
    return Image.fromarray((np.clip(values, 0, 65535) >> 8).astype(np.uint8))
