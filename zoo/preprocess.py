"""Turn an image into a model's input exactly as its manifest says, and a model's outputs into float values (needs
numpy and pillow: the run extra)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from zoo.errors import ZooError
from zoo.images import eight_bit, open_image
from zoo.tensors import Input


@dataclass(frozen=True)
class Prepared:
    """The float input (H, W, C), the original image's size, and where the image lies inside the input (the rest is
    padding): `region` is (left, top, width, height) in input pixels."""

    array: np.ndarray
    image_size: tuple[int, int]  # (width, height)
    region: tuple[float, float, float, float]

    @property
    def pixels(self) -> tuple[int, int, int, int]:
        """`region` rounded to whole input pixels (where to crop an output at the input's size)."""
        left, top, width, height = self.region
        return max(0, round(left)), max(0, round(top)), round(width), round(height)

    def to_image(self, x: float, y: float) -> tuple[float, float]:
        """A point given as a fraction of the input's width and height, as a fraction of the original image's."""
        left, top, width, height = self.region
        h, w = self.array.shape[:2]
        return (x * w - left) / width, (y * h - top) / height


def as_image(image: str | Path | Image.Image | np.ndarray) -> Image.Image:
    """A path, a PIL image or an HxWxC (or HxW) uint8 array, as a PIL image; ZooError for what is none of them."""
    if isinstance(image, Image.Image):
        return eight_bit(image)
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
            raise ZooError(f"an image array must be HxWxC (C = 1, 3 or 4) or HxW uint8, got {image.dtype} {image.shape}")
        return Image.fromarray(image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image)
    return eight_bit(open_image(Path(image)))


def input_size(inp: Input) -> tuple[int, int]:
    """(height, width) of an input by its layout."""
    if inp.layout == "NCHW":
        return inp.shape[2], inp.shape[3]
    return inp.shape[1], inp.shape[2]


def resize(image: Image.Image, width: int, height: int, method: str) -> np.ndarray:
    """uint8 pixels at (height, width): Pillow's bilinear (smoothing when it shrinks), nearest, or LiteRT's
    RESIZE_BILINEAR with half-pixel centres and no smoothing, truncated to uint8 (how libcoral prepares its tests)."""
    if method == "pillow-bilinear":
        return np.asarray(image.resize((width, height), Image.BILINEAR))
    if method == "nearest":
        return np.asarray(image.resize((width, height), Image.NEAREST))
    if method == "libyuv-bilinear":
        return _libyuv(np.asarray(image), width, height)
    if method == "opencv-bilinear":
        return _opencv(np.asarray(image), width, height)
    low, high, weight = _bilinear_axis(image.height, height)
    pixels, (low, high) = _rows(image, low, high)
    gray = pixels.ndim == 2
    pixels = pixels[..., None] if gray else pixels
    cols = _bilinear_axis(image.width, width)
    out = _lerp(_lerp(pixels, (low, high, weight), 0), cols, 1)
    out = np.clip(out, 0, 255).astype(np.uint8)  # truncation, as a float-to-uint8 cast does
    return out[..., 0] if gray else out


def _rows(image: Image.Image, *wanted: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Only the pixel rows a sampler reads, as uint8 (rows x W [x C]), and each `wanted` index array renumbered into
    them: a sampler reading two rows per output row never holds the whole photo as an array."""
    needed = np.unique(np.concatenate(wanted))
    rows = np.stack([np.asarray(image.crop((0, r, image.width, r + 1)))[0] for r in needed.tolist()])
    return rows, tuple(np.searchsorted(needed, w) for w in wanted)


def _libyuv(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """libyuv's ARGBScale with kFilterBilinear, as TFLite Support's Task Library resizes (its C reference code, integer
    arithmetic): the filter reduced where an axis keeps its size or shrinks 3x (ScaleFilterReduce), 16.16 fixed-point
    sample positions (ScaleSlope), whole even shrinks by a 2x2 box (rounded twice, as the SIMD rows' pavgb does) and
    whole odd ones by nearest pixel, otherwise rows blended with 8-bit weights (InterpolateRow) and columns with 7-bit
    weights summing to 127 (ScaleARGBFilterCols): rows first when shrinking, columns first when growing
    (ScaleARGBBilinearDown, ScaleARGBBilinearUp). Only the pixels the samples read are gathered."""
    src = pixels.astype(np.int32)
    src = src[..., None] if src.ndim == 2 else src
    h, w = src.shape[:2]
    mode = "bilinear"
    if height in (h, h / 3) or h == 1:
        mode = "linear"
    if w == 1 or (mode == "linear" and width in (w, w / 3)):
        mode = "none"
    x, dx = _libyuv_slope(w, width, mode != "none", True)
    y, dy = _libyuv_slope(h, height, mode != "none", mode == "bilinear")
    steps_x, steps_y = x + dx * np.arange(width, dtype=np.int64), y + dy * np.arange(height, dtype=np.int64)
    if dx and dy and not (dx | dy) & 0xFFFF:  # whole shrinks
        if not (dx | dy) & 0x10000:  # even: ScaleARGBDown2, ScaleARGBDownEven (a 2x2 box)
            rows, cols = (y >> 16) + (dy >> 16) * np.arange(height), (x >> 16) + (dx >> 16) * np.arange(width)
            top, bottom = src[rows], src[rows + 1]
            left, right = (top[:, cols] + bottom[:, cols] + 1) >> 1, (top[:, cols + 1] + bottom[:, cols + 1] + 1) >> 1
            return _as_pixels((left + right + 1) >> 1, pixels)
        if dx & dy & 0x10000:
            mode = "none"
    if mode == "none":  # ScaleARGBSimple
        return _as_pixels(src[steps_y >> 16][:, steps_x >> 16], pixels)
    xi = np.clip(steps_x >> 16, 0, w - 1)
    left, right, xf = xi, np.clip(xi + 1, 0, w - 1), ((steps_x >> 9) & 0x7F).astype(np.int32)[None, :, None]
    ys = np.minimum(steps_y, np.int64((h - 1) << 16))  # held at the last row
    top, yf = ys >> 16, ((ys >> 8) & 0xFF).astype(np.int32)[:, None, None]
    bottom = np.clip(top + 1, 0, h - 1)
    cols = lambda a, b: (a * (0x7F ^ xf) + b * xf) >> 7  # noqa: E731
    rows = lambda a, b: (a * (256 - yf) + b * yf + 128) >> 8  # noqa: E731
    at = lambda r, c: src[np.ix_(r, c)]  # noqa: E731
    if mode == "linear":
        return _as_pixels(cols(at(top, left), at(top, right)), pixels)
    if dy >= 0x10000:
        out = cols(rows(at(top, left), at(bottom, left)), rows(at(top, right), at(bottom, right)))
    else:
        out = rows(cols(at(top, left), at(top, right)), cols(at(bottom, left), at(bottom, right)))
    return _as_pixels(out, pixels)


def _as_pixels(out: np.ndarray, like: np.ndarray) -> np.ndarray:
    out = out.astype(np.uint8)
    return out[..., 0] if like.ndim == 2 else out


def _libyuv_slope(size: int, out: int, filtered: bool, centred: bool) -> tuple[int, int]:
    """libyuv's ScaleSlope along one axis: (start, step) in 16.16 fixed point."""
    step = (size << 16) // out
    if not filtered:
        return step >> 1, step
    if not centred:  # kFilterLinear's vertical axis
        return step >> 1, step
    if out <= size:
        return (step >> 1) - 32768, step
    if size > 1 and out > 1:
        return 0, ((size << 16) - 0x00010001) // (out - 1)
    return 0, step


def _opencv(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """OpenCV's cv2.resize with INTER_LINEAR (what NXP's examples call): half-pixel centres, 11-bit fixed-point weights
    (columns past an edge clamped to it, rows past one blended from the clipped row with their weights kept), the
    vertical pass as its SIMD code does it (each row >> 4, high 16 bits of the product, the sum rounded >> 2)."""
    src = pixels.astype(np.int64)
    src = src[..., None] if src.ndim == 2 else src
    h, w = src.shape[:2]

    def axis(size: int, n: int, clamp: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        position = ((np.arange(n) + 0.5) * (size / n) - 0.5).astype(np.float32)
        low = np.floor(position).astype(np.int64)
        frac = position - low
        if clamp:  # columns past an edge take the edge pixel alone; rows keep their weights over a clipped row
            frac, low = np.where(low < 0, 0, frac), np.maximum(low, 0)
            frac, low = np.where(low >= size - 1, 0, frac), np.minimum(low, size - 1)
        first = np.rint((np.float32(1) - frac) * np.float32(2048)).astype(np.int64)  # cvRound: half to even
        return np.clip(low, 0, size - 1), np.clip(low + 1, 0, size - 1), first

    x0, x1, ax = axis(w, width, True)
    y0, y1, by = axis(h, height, False)
    ax, by = ax[None, :, None], by[:, None, None]
    rows = lambda r: src[r][:, x0] * ax + src[r][:, x1] * (2048 - ax)  # noqa: E731
    # VResizeLinearVec_32s8u: each row >> 4, times its weight, high 16 bits kept, the sum rounded >> 2
    out = (((rows(y0) >> 4) * by >> 16) + ((rows(y1) >> 4) * (2048 - by) >> 16) + 2) >> 2
    return _as_pixels(np.clip(out, 0, 255), pixels)


def _bilinear_axis(size: int, out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each output index along one axis: the two input indices and the weight of the second (half-pixel centres)."""
    position = (np.arange(out) + 0.5) * (size / out) - 0.5
    low = np.floor(position)
    return np.clip(low, 0, size - 1).astype(int), np.clip(np.ceil(position), 0, size - 1).astype(int), \
        (position - low).astype(np.float32)


def _lerp(pixels: np.ndarray, axis_plan, axis: int) -> np.ndarray:
    low, high, weight = axis_plan
    shape = [1] * pixels.ndim
    shape[axis] = -1
    weight = weight.reshape(shape)
    # uint8 rows (columns) taken first, then made float: only what is sampled is ever float32
    return (np.take(pixels, low, axis=axis).astype(np.float32) * (1 - weight)
            + np.take(pixels, high, axis=axis).astype(np.float32) * weight)


def prepare(image: str | Path | Image.Image | np.ndarray, inp: Input) -> Prepared:
    """Resize as the manifest says (stretch; pad, keeping aspect, bottom/right; letterbox, keeping aspect, centred)
    with its resize method, in its colour order, then float = (pixel - mean) * scale."""
    pre = inp.preprocessing
    picture = as_image(image)
    mode = "L" if inp.color_order == "GRAY" else "RGB"
    picture = picture if picture.mode == mode else picture.convert(mode)
    height, width = input_size(inp)
    if pre.resize_method == "corner-bilinear":
        canvas, region = _warped(picture, width, height, pre.resize, pre.pad_value or 0.0)
    elif pre.resize == "stretch":
        canvas, region = resize(picture, width, height, pre.resize_method).astype(np.float32), (0, 0, width, height)
    else:
        ratio = min(width / picture.width, height / picture.height)
        w, h = max(1, round(picture.width * ratio)), max(1, round(picture.height * ratio))
        left, top = ((width - w) // 2, (height - h) // 2) if pre.resize == "letterbox" else (0, 0)
        canvas = np.full((height, width, *([] if inp.color_order == "GRAY" else [3])), pre.pad_value, dtype=np.float32)
        canvas[top:top + h, left:left + w] = resize(picture, w, h, pre.resize_method)
        region = (left, top, w, h)
    if canvas.ndim == 2:
        canvas = canvas[..., None]
    if inp.color_order == "BGR":
        canvas = canvas[..., ::-1]
    array = (canvas - np.asarray(pre.mean, dtype=np.float32)) * np.asarray(pre.scale, dtype=np.float32)
    return Prepared(array.astype(np.float32), picture.size, region)


def _warped(picture: Image.Image, width: int, height: int, how: str, pad: float):
    """The input sampled the way MediaPipe's ImageToTensorCalculator does on the CPU (OpenCV's warp, INTER_LINEAR, no
    smoothing): the image, or for `pad`/`letterbox` the smallest rectangle of the input's aspect around it, mapped onto
    the input with the output's pixel corners on the rectangle's, outside pixels `pad`, rounded to uint8. Returns the
    pixels and the image's exact place in the input."""
    w, h = picture.size
    if how == "stretch":
        x0, y0, sx, sy = 0.0, 0.0, w / width, h / height
    else:
        scale = max(w / width, h / height)  # source pixels per input pixel
        x0, y0 = ((w - width * scale) / 2, (h - height * scale) / 2) if how == "letterbox" else (0.0, 0.0)
        sx = sy = scale
    xs, ys = np.arange(width) * sx + x0, np.arange(height) * sy + y0
    xi, yi = np.floor(xs).astype(int), np.floor(ys).astype(int)
    fx, fy = (xs - xi)[None, :, None], (ys - yi)[:, None, None]
    src, (top, bottom) = _rows(picture, np.clip(yi, 0, h - 1), np.clip(yi + 1, 0, h - 1))  # uint8, the rows read
    src = src[..., None] if src.ndim == 2 else src

    def at(rows: np.ndarray, taken: np.ndarray, cols: np.ndarray) -> np.ndarray:
        inside = ((rows >= 0) & (rows < h))[:, None, None] & ((cols >= 0) & (cols < w))[None, :, None]
        return np.where(inside, src[taken][:, np.clip(cols, 0, w - 1)].astype(np.float32), pad)

    out = ((1 - fy) * (1 - fx) * at(yi, top, xi) + (1 - fy) * fx * at(yi, top, xi + 1)
           + fy * (1 - fx) * at(yi + 1, bottom, xi) + fy * fx * at(yi + 1, bottom, xi + 1))
    pixels = np.clip(np.round(out), 0, 255).astype(np.float32)
    return (pixels[..., 0] if picture.mode == "L" else pixels), (-x0 / sx, -y0 / sy, w / sx, h / sy)


def quantize(array: np.ndarray, q: tuple[float, int], dtype: str) -> np.ndarray:
    """Float input to an integer input tensor: round(x / scale + zero_point), clipped to the dtype; a tensor without
    quantization parameters (scale 0) takes the values themselves."""
    scale, zero = q
    info = np.iinfo(dtype)
    values = array / scale + zero if scale else array
    return np.clip(np.round(values), info.min, info.max).astype(dtype)


def as_input(array: np.ndarray, detail: dict) -> np.ndarray:
    """A preprocessed (H, W, C) float array as the batch an interpreter input (`get_input_details()[i]`) takes: in its
    layout (NHWC, NCHW or a channel-less NHW) and quantized with the tensor's own parameters when it is not float."""
    if detail["dtype"] != np.float32:
        array = quantize(array, detail["quantization"], np.dtype(detail["dtype"]).name)
    shape = list(detail["shape"][1:])
    if len(shape) == 3 and shape[0] == array.shape[2] and shape[2] != array.shape[2]:
        array = np.transpose(array, (2, 0, 1))
    return array.reshape(shape)[None]


def values(detail: dict, tensor: np.ndarray) -> np.ndarray:
    """An output tensor as numbers: dequantized ((q - zero_point) * scale) when it has quantization parameters."""
    scale, zero = detail.get("quantization", (0.0, 0))
    if scale and np.issubdtype(tensor.dtype, np.integer):
        return (tensor.astype(np.float32) - zero) * np.float32(scale)
    return tensor
