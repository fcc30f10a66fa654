"""The representative dataset: real images through the manifest's preprocessing, or labelled random noise."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.errors import ZooError
from zoo.hashes import Hasher, file_digest, sha256_of
from zoo.tensors import Input

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


@dataclass(frozen=True)
class Calibration:
    samples: list[np.ndarray]
    source: str
    sha256: str

    @property
    def count(self) -> int:
        return len(self.samples)

    def describe(self) -> dict:
        return {"source": self.source, "count": self.count, "sha256": self.sha256}


def at_size(inp: Input, size: int) -> Input:
    """The input with its height and width set to `size` (a build at another input size)."""
    shape = list(inp.shape)
    for axis in (2, 3) if inp.layout == "NCHW" else (1, 2):
        shape[axis] = size
    return inp.model_copy(update={"shape": shape})


def from_directory(folder: Path, inp: Input, size: int, limit: int) -> Calibration:
    """Up to `limit` images from `folder` (sorted by name; searched recursively), prepared as the manifest's input
    says at size x size."""
    from zoo.images import open_image
    from zoo.preprocess import prepare

    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)[:limit]
    if not files:
        raise ZooError(f"no images (.jpg, .png, .bmp) under {folder}", "point --calibration at e.g. VOC2012/JPEGImages")
    digest = Hasher()
    samples = []
    for f in files:
        digest.update(f.name.encode() + b"\0" + bytes.fromhex(file_digest(f).sha256))
        try:
            image = open_image(f)
        except ZooError as e:
            raise ZooError(f"calibration image {e.message}", "remove it or convert it") from None
        samples.append(prepare(image, at_size(inp, size)).array)
    return Calibration(samples, str(folder), digest.digest().sha256)


def random_noise(inp: Input, size: int, count: int, seed: int = 0) -> Calibration:
    """Uniform random pixels through the same normalisation: for smoke builds only, and recorded as such."""
    rng = np.random.default_rng(seed)
    pre = inp.preprocessing
    mean, scale = np.asarray(pre.mean, np.float32), np.asarray(pre.scale, np.float32)
    channels = 1 if inp.color_order == "GRAY" else 3
    samples = [((rng.integers(0, 256, (size, size, channels)).astype(np.float32) - mean) * scale) for _ in range(count)]
    return Calibration(samples, f"random (seed {seed})", sha256_of(f"random:{seed}:{size}:{count}".encode()))
