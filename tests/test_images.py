"""Images as zoo opens and prepares them (zoo/images.py, zoo/preprocess.py): hostile files fail in one line, 16-bit
greyscale keeps its picture, and a huge photo is never copied whole as float32."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import tracemalloc
import zlib

import numpy as np
import pytest
from PIL import Image

from zoo.errors import ZooError
from zoo.tensors import Input
from zoo.preprocess import as_image, prepare


def zoo_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, timeout=120, env=os.environ)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int, height: int) -> bytes:
    """A PNG whose IHDR says width x height (greyscale) with a few KB of compressed zeros behind it."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * (1 << 20), 9)  # a megabyte of zeros: a start of the rows the header promises
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", rows) + _chunk(b"IEND", b"")


def bmp_that_lies(width: int, height: int) -> bytes:
    """A 24-bit BMP whose header claims width x height and holds 16 bytes of pixels."""
    pixels = b"\0" * 16
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(info) + len(pixels), 0, 0, 14 + len(info)) + info + pixels


def an_input(method: str, shape=(1, 64, 64, 3), color="RGB") -> Input:
    return Input(shape=list(shape), layout="NHWC", color_order=color, dtype="float32",
                 preprocessing={"resize": "stretch", "resize_method": method, "mean": [0.0] * shape[-1],
                                "scale": [1.0] * shape[-1]})


@pytest.mark.parametrize(("name", "data"), ids=["30000x30000-png", "13000x12000-png", "40000x40000-bmp"], argvalues=[
    ("bomb.png", png_bomb(30000, 30000)),  # 900 M pixels: Pillow's own check raises its DecompressionBombError
    ("big.png", png_bomb(13000, 12000)),  # 156 M pixels: Pillow would only warn, and decode 468 MB of nothing
    ("lies.bmp", bmp_that_lies(40000, 40000)),
])
def test_an_image_claiming_too_many_pixels_is_refused_before_decoding(tmp_path, name, data):
    (tmp_path / name).write_bytes(data)
    with pytest.raises(ZooError, match="pixels zoo decodes"):
        as_image(tmp_path / name)
    proc = zoo_cli("predict", "deeplabv3", str(tmp_path / name))  # the image is read before any model is fetched
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == [f"error: {tmp_path / name} claims more than the 150,000,000 pixels zoo decodes "
                                        "(a decompression bomb, or a photo far larger than any model's input) "
                                        "(scale it down first)"]


def test_a_bomb_among_the_calibration_images_fails_in_one_line(tmp_path):
    from zoo.convert.calibration import from_directory

    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    (tmp_path / "b.png").write_bytes(png_bomb(30000, 30000))
    with pytest.raises(ZooError, match=r"^calibration image .*b\.png claims more than the 150,000,000 pixels"):
        from_directory(tmp_path, an_input("pillow-bilinear"), 64, 10)


def test_a_16_bit_greyscale_png_keeps_its_picture(tmp_path):
    """Pillow opens it as I;16 and its convert("L") clips every value above 255 to white: the model saw a white page."""
    ramp = (np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 16).astype(np.uint16)  # 0 .. 65520
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode in ("I;16", "I")
    got = prepare(tmp_path / "deep.png", an_input("nearest", (1, 64, 64, 1), "GRAY")).array[..., 0]
    assert np.array_equal(got, (ramp >> 8).astype(np.float32))
    rgb = prepare(tmp_path / "deep.png", an_input("nearest")).array
    assert np.array_equal(rgb, np.repeat((ramp >> 8).astype(np.float32)[..., None], 3, axis=2))


@pytest.mark.parametrize("method", ["tflite-bilinear", "corner-bilinear"])
def test_a_large_photo_is_not_copied_whole_as_float32(method):
    """A 3000 x 3000 photo is 27 MB as uint8 and 108 MB as float32; the samplers that read two rows and two columns
    per output pixel take those first and only they become float."""
    picture = Image.fromarray(np.random.default_rng(0).integers(0, 256, (3000, 3000, 3), dtype=np.uint8))
    tracemalloc.start()
    try:
        prepare(picture, an_input(method, (1, 257, 257, 3)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2.5 * 3000 * 3000 * 3, f"{peak:,} bytes at the peak"  # Pillow's tobytes holds the uint8 twice


def test_a_bomb_as_a_pinned_calibration_image_fails_in_one_line(tmp_path):
    """The quantizer's calibration views read pinned image upstreams through the same check."""
    from zoo.convert.compilers.aeq import views

    (tmp_path / "calibration.png").write_bytes(png_bomb(30000, 30000))
    with pytest.raises(ZooError, match=r"calibration\.png claims more than the 150,000,000 pixels zoo decodes"):
        views(tmp_path / "calibration.png", crops=True)
