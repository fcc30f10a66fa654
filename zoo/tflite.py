"""Read a .tflite file without TensorFlow: I/O tensors, quantization, ops, and which accelerator it is compiled for.

A small reader of the FlatBuffers layout of the TFLite schema (Model -> SubGraph -> Tensor/Operator,
OperatorCode). `tflite_ops.txt` lists the BuiltinOperator names by code (index = code).
"""

from __future__ import annotations

import mmap
import os
import struct
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from zoo.errors import InvalidModel

DTYPES = ("float32", "float16", "int32", "uint8", "int64", "string", "bool", "int16", "complex64", "int8",
          "float64", "complex128", "uint64", "resource", "variant", "uint32", "uint16", "int4", "bfloat16")
EDGE_OPS = {"QUANTIZE", "DEQUANTIZE"}
FLOATS = {"float32", "float16", "float64", "bfloat16"}



@lru_cache(maxsize=1)
def builtin_names() -> tuple[str, ...]:
    return tuple((Path(__file__).with_name("tflite_ops.txt")).read_text().split())


class _Table:
    """A FlatBuffers table: fields by vtable slot."""

    def __init__(self, buf: bytes, pos: int):
        self.buf, self.pos = buf, pos
        vtable = pos - struct.unpack_from("<i", buf, pos)[0]
        self._vsize = struct.unpack_from("<H", buf, vtable)[0]
        self._vtable = vtable

    def _field(self, slot: int) -> int | None:
        entry = 4 + 2 * slot
        if entry >= self._vsize:
            return None
        off = struct.unpack_from("<H", self.buf, self._vtable + entry)[0]
        return self.pos + off if off else None

    def scalar(self, slot: int, fmt: str, default=0):
        at = self._field(slot)
        return default if at is None else struct.unpack_from("<" + fmt, self.buf, at)[0]

    def _target(self, slot: int) -> int | None:
        at = self._field(slot)
        return None if at is None else at + struct.unpack_from("<I", self.buf, at)[0]

    def string(self, slot: int) -> str | None:
        at = self._target(slot)
        if at is None:
            return None
        n = struct.unpack_from("<I", self.buf, at)[0]
        return bytes(self.buf[at + 4 : at + 4 + n]).decode("utf-8", "replace")

    def length(self, slot: int) -> int:
        """The length of a vector field (0 when absent), without reading it."""
        at = self._target(slot)
        return 0 if at is None else struct.unpack_from("<I", self.buf, at)[0]

    def vector(self, slot: int, fmt: str) -> list:
        at = self._target(slot)
        if at is None:
            return []
        n = struct.unpack_from("<I", self.buf, at)[0]
        return list(struct.unpack_from(f"<{n}{fmt}", self.buf, at + 4))

    def tables(self, slot: int) -> list[_Table]:
        at = self._target(slot)
        if at is None:
            return []
        n = struct.unpack_from("<I", self.buf, at)[0]
        if at + 4 + 4 * n > len(self.buf):
            raise struct.error(f"a vector of {n:,} tables runs past the end of the file")
        out = []
        for i in range(n):
            p = at + 4 + 4 * i
            out.append(_Table(self.buf, p + struct.unpack_from("<I", self.buf, p)[0]))
        return out

    def table(self, slot: int) -> _Table | None:
        at = self._target(slot)
        return None if at is None else _Table(self.buf, at)


@dataclass
class TensorInfo:
    name: str
    dtype: str
    shape: list[int]
    scale: list[float] = field(default_factory=list)
    zero_point: list[int] = field(default_factory=list)
    constant: bool = field(default=False, repr=False)  # its value is in the file (weights, a resize's size)
    signature: list[int] = field(default_factory=list, repr=False)  # shape_signature: -1 marks a dynamic dimension

    @property
    def per_channel(self) -> bool:
        """Quantized with one scale per channel (per-axis), not one for the whole tensor."""
        return len(self.scale) > 1

    @property
    def quantized(self) -> bool:
        return bool(self.scale) and any(self.scale)


@dataclass
class OpInfo:
    name: str
    inputs: list[str]
    outputs: list[str]
    input_ids: list[int] = field(default_factory=list, repr=False)  # tensor indices (-1: an optional input left out)
    output_ids: list[int] = field(default_factory=list, repr=False)


@dataclass
class ModelInfo:
    path: str
    size: int
    subgraphs: int
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    ops: list[OpInfo]
    tensors: list[TensorInfo] = field(default_factory=list, repr=False)

    @property
    def histogram(self) -> dict[str, int]:
        return dict(Counter(op.name for op in self.ops).most_common())

    @property
    def accelerator(self) -> str | None:
        """The target whose compiled operator the file holds (edgetpu, imx93, imx8mp), else None."""
        markers = marker_ops()
        return next((markers[op.name] for op in self.ops if op.name in markers), None)

    @property
    def cpu_ops(self) -> list[str]:
        """Ops that run on the CPU (all of them for an uncompiled model)."""
        markers = marker_ops()
        return [op.name for op in self.ops if op.name not in markers]

    @property
    def float_ops(self) -> list[str]:
        """Compute ops touching a float tensor (QUANTIZE/DEQUANTIZE at the edges are expected to)."""
        return [op.name for op in self.ops if op.name not in EDGE_OPS and (FLOATS & {*op.inputs, *op.outputs})]

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("tensors")
        for t in (*data["inputs"], *data["outputs"]):
            t.pop("constant"), t.pop("signature")
        for op in data["ops"]:
            op.pop("input_ids"), op.pop("output_ids")
        return {**data, "histogram": self.histogram, "accelerator": self.accelerator, "cpu_ops": self.cpu_ops,
                "float_ops": self.float_ops}


def marker_ops() -> dict[str, str]:
    """Operator name -> the target whose compiled files it marks."""
    from zoo.targets import TARGETS

    return {t.marker_op: t.name for t in TARGETS.values() if t.marker_op}


def _tensor(t: _Table, buffers: list[_Table]) -> TensorInfo:
    q = t.table(4)
    code = t.scalar(1, "b")
    index = t.scalar(2, "I")
    buffer = buffers[index] if 0 < index < len(buffers) else None
    return TensorInfo(
        name=t.string(3) or "",
        dtype=DTYPES[code] if 0 <= code < len(DTYPES) else f"type{code}",
        shape=t.vector(0, "i"),
        scale=q.vector(2, "f") if q else [],
        zero_point=q.vector(3, "q") if q else [],
        constant=buffer is not None and (buffer.length(0) > 0 or buffer.scalar(1, "Q") > 1),
        signature=t.vector(7, "i"),
    )


def _op_name(code: _Table) -> str:
    builtin = max(code.scalar(0, "b"), code.scalar(3, "i"))
    names = builtin_names()
    if not 0 <= builtin < len(names):
        return f"BUILTIN_{builtin}"
    if names[builtin] == "CUSTOM":
        return code.string(1) or "CUSTOM"
    return names[builtin]


ITEM_BYTES = 64
"""Real models spend 400 bytes or more of the file per tensor or operator (names, shapes, quantization, weights); a
file listing one per fewer than this many bytes (a million empty tensors in 4 MB) is refused before any is read, so
reading costs memory and time in proportion to the file's size."""
MAX_FLATBUFFER = (1 << 31) - 1
"""A FlatBuffer addresses at most 2 GiB - 1 bytes, so no .tflite file is larger."""
_KINDS = {b"BM": "a BMP image", b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"GIF8": "a GIF image",
          b"PK\x03\x04": "a zip archive", b"\x1f\x8b": "a gzip file", b"\x89HDF": "an HDF5 file (Keras weights?)",
          b"<": "text or HTML", b"{": "JSON text"}


def inspect(path: str | Path) -> ModelInfo:
    """Parse a .tflite file (mapped, not read: a file may be larger than memory); InvalidModel if it is not one."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(8)
        _identify(path, size, head)
        try:
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except OSError as e:
            raise InvalidModel(f"{path} cannot be mapped into memory to be read ({e.strerror})",
                               "raise the process's address-space limit (ulimit -v)") from None
    with data:
        return _parse(path, data)


def _identify(path: str | Path, size: int, head: bytes) -> None:
    """InvalidModel saying what the file is not (and what it looks like) before anything is mapped."""
    if size == 0:
        raise InvalidModel(f"{path} is not a TFLite model (it is empty)")
    if size > MAX_FLATBUFFER:
        raise InvalidModel(f"{path} is not a TFLite model: it is {size:,} bytes, and a TFLite flatbuffer is at most "
                           f"{MAX_FLATBUFFER:,}")
    if len(head) < 8 or head[4:8] != b"TFL3":
        kind = next((k for magic, k in _KINDS.items() if head.startswith(magic)), None)
        raise InvalidModel(f"{path} is not a TFLite model (no TFL3 identifier{f'; it looks like {kind}' if kind else ''})")


def _parse(path: str | Path, data) -> ModelInfo:
    try:
        model = _Table(data, struct.unpack_from("<I", data, 0)[0])
        subgraphs = model.tables(2)
        main = subgraphs[0]
        _within_budget(path, len(data), model, main)
        codes = [_op_name(c) for c in model.tables(1)]
        buffers = model.tables(4)
        tensors = [_tensor(t, buffers) for t in main.tables(0)]
        dtypes = [t.dtype for t in tensors]
        ops = []
        for op in main.tables(3):
            ins, outs = op.vector(1, "i"), op.vector(2, "i")
            ops.append(OpInfo(codes[op.scalar(0, "I")], [dtypes[i] for i in ins if i >= 0], [dtypes[i] for i in outs if i >= 0],
                              ins, outs))
        return ModelInfo(str(path), len(data), len(subgraphs),
                         [tensors[i] for i in main.vector(1, "i")], [tensors[i] for i in main.vector(2, "i")], ops, tensors)
    except (struct.error, IndexError) as e:
        raise InvalidModel(f"{path} is a damaged TFLite model ({e})") from None


def _within_budget(path: str | Path, size: int, model: _Table, main: _Table) -> None:
    """InvalidModel when the file lists more items (operator codes, subgraphs, buffers, tensors, operators) than
    real models fit in its size (see ITEM_BYTES); counted from the vectors' lengths, nothing read yet."""
    counts = {"operator codes": model.length(1), "subgraphs": model.length(2), "buffers": model.length(4),
              "tensors": main.length(0), "operators": main.length(3)}
    if sum(counts.values()) > size // ITEM_BYTES + 64:
        listed = ", ".join(f"{n:,} {what}" for what, n in counts.items() if n)
        raise InvalidModel(f"{path} lists {listed} in {size:,} bytes: more than a real model fits in its size (one per "
                           f"{ITEM_BYTES} bytes); a damaged or hostile file")


def check_bytes(data: bytes, what: str) -> None:
    """InvalidModel unless `data` can be a TFLite flatbuffer (size, TFL3 identifier), for readers that trust it."""
    _identify(what, len(data), bytes(data[:8]))


FLEX_INT, FLEX_UINT, FLEX_FLOAT, FLEX_MAP, FLEX_BOOL = 1, 2, 3, 9, 26  # FlexBuffers types


def custom_options(path: str | Path, op_name: str) -> dict[str, int | float]:
    """The scalar options of the first custom operator `op_name` in the main subgraph (a FlexBuffers map, e.g.
    TFLite_Detection_PostProcess's max_detections), {} when there is none; InvalidModel when they are malformed."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        try:
            model = _Table(data, struct.unpack_from("<I", data, 0)[0])
            codes = [_op_name(c) for c in model.tables(1)]
            for op in model.tables(2)[0].tables(3):
                if codes[op.scalar(0, "I")] == op_name:
                    return _flex_map(bytes(op.vector(5, "B")))
        except (struct.error, IndexError, UnicodeDecodeError) as e:
            raise InvalidModel(f"{path}: the options of its {op_name} are damaged ({e})") from None
    return {}


def _flex_map(buf: bytes) -> dict[str, int | float]:
    """The scalar entries of a FlexBuffers map at the root of `buf` (other entries left out)."""
    if len(buf) < 3:
        return {}
    root_width, packed = buf[-1], buf[-2]
    root = len(buf) - 2 - root_width
    if packed >> 2 != FLEX_MAP:
        return {}
    unsigned = lambda at, width: int.from_bytes(buf[at:at + width], "little")  # noqa: E731
    width = 1 << (packed & 3)
    at = root - unsigned(root, root_width)
    count = unsigned(at - width, width)
    keys_at = at - 3 * width - unsigned(at - 3 * width, width)
    key_width = unsigned(at - 2 * width, width)
    if at + count * (width + 1) > len(buf) or keys_at < 0:
        raise IndexError("a FlexBuffers map beyond its buffer")
    out = {}
    for i in range(count):
        key_at = keys_at + i * key_width
        start = key_at - unsigned(key_at, key_width)
        key = buf[start:buf.index(b"\0", start)].decode("utf-8")
        kind, value_at = buf[at + count * width + i] >> 2, at + i * width
        if kind == FLEX_INT:
            out[key] = int.from_bytes(buf[value_at:value_at + width], "little", signed=True)
        elif kind in (FLEX_UINT, FLEX_BOOL):
            out[key] = unsigned(value_at, width)
        elif kind == FLEX_FLOAT and width in (4, 8):
            out[key] = struct.unpack_from("<f" if width == 4 else "<d", buf, value_at)[0]
    return out
