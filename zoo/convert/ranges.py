"""Calibration ranges made insensitive to the last bits of float arithmetic, so a quantized file is the same bytes on
every machine.

The last bits of a tensor's minimum and maximum depend on the kernels that computed it (XNNPACK picks its kernels by
instruction set: AVX2 and AVX-512 round differently), and the int8 scales are computed from them. Each bound is moved
outward to a grid of GRID_BITS significant bits, after moving inward by TOLERANCE of its size, so that a bound lying
exactly on a grid line (h-swish's minimum, -0.375) is not pushed a whole step by one unit in the last place. Two
kernel paths agree on the grid unless one of them lands between a bound and its nearest grid line: the `margin` of a
bound is that distance divided by the difference between the paths, and a margin above 1 means they agree.
"""

from __future__ import annotations

import math

import numpy as np

from zoo.hashes import sha256_of

GRID_BITS = 5  # widens a range by 2% (median) to 6% (most): measured on MediaPipe's selfie segmenter and BlazeFace
TOLERANCE = 2.0 ** -16


def _inward(v: float, upper: bool) -> float:
    return v - TOLERANCE * abs(v) if upper else v + TOLERANCE * abs(v)


def _lines(v: float) -> tuple[float, float]:
    """The grid lines either side of `v` (exact in float64: a power of two times an integer)."""
    _, exponent = math.frexp(v)
    step = math.ldexp(1.0, exponent - GRID_BITS)
    return math.floor(v / step) * step, math.ceil(v / step) * step


def snap_bound(v: float, upper: bool) -> float:
    """A maximum (`upper`) or minimum moved outward to the grid; zero stays zero."""
    w = _inward(float(v), upper)
    if w == 0:
        return 0.0
    low, high = _lines(w)
    return high if upper else low


def snap(qsvs: dict[str, dict]) -> dict[str, dict]:
    """ai-edge-quantizer's statistics ({tensor: {"min": array, "max": array}}) with every bound on the grid, each
    array keeping its shape and dtype (a grid value of a few bits is exact in float32)."""
    out = {}
    for name, qsv in qsvs.items():
        snapped = dict(qsv)
        for key, upper in (("min", False), ("max", True)):
            if key in qsv:
                a = np.asarray(qsv[key])
                snapped[key] = np.vectorize(lambda v, u=upper: snap_bound(v, u), otypes=[np.float64])(a).astype(a.dtype) \
                    if a.size else a
        out[name] = snapped
    return out


def _bounds(qsvs: dict[str, dict]):
    for name in sorted(qsvs):
        for key, upper in (("min", False), ("max", True)):
            if key in qsvs[name]:
                for i, v in enumerate(np.asarray(qsvs[name][key], dtype=np.float64).ravel()):
                    yield (name, key, i), float(v), upper


def margin(made: dict[str, dict], other: dict[str, dict]) -> dict:
    """How far the bounds that made the bytes (`made`) are from changing grid line, against another kernel path's
    (`other`): the smallest margin (distance to the nearest line / difference between the paths; None when no bound
    differs), the largest difference relative to the bound, how many bounds differ and how many of them land on
    another grid line (0 means both paths give the same ranges)."""
    theirs = {key: v for key, v, _ in _bounds(other)}
    smallest, largest, differ, crossed = math.inf, 0.0, 0, 0
    for key, v, upper in _bounds(made):
        if key not in theirs or theirs[key] == v:
            continue
        differ += 1
        d = abs(theirs[key] - v)
        largest = max(largest, d / abs(v)) if v else largest
        crossed += snap_bound(theirs[key], upper) != snap_bound(v, upper)
        w = _inward(v, upper)
        low, high = _lines(w) if w else (0.0, 0.0)  # zero is a grid line of its own
        smallest = min(smallest, min(w - low, high - w) / d)
    return {"smallest_margin": None if smallest == math.inf else round(smallest, 1),
            "largest_relative_difference": float(f"{largest:.2g}"), "bounds_differing": differ,
            "bounds_on_another_grid_line": crossed}


def digest(qsvs: dict[str, dict]) -> str:
    """sha256 of every bound (tensor name, min and max as float64), in name order: equal ranges, equal digests."""
    return sha256_of(b"".join(f"{name}\0{key}\0{i}\0{v.hex()}\n".encode() for (name, key, i), v, _ in _bounds(qsvs)))
