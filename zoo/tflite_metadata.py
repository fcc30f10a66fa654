"""TFLite Model Metadata, read the way TFLite Support's Task Library reads it, without TensorFlow: the `TFLITE_METADATA`
flatbuffer in the model's metadata list (tensorflow_lite_support/metadata/metadata_schema.fbs: each tensor's name,
normalisation and associated files) and the label files in the zip appended to the model. Both are hostile input:
sizes are bounded and anything malformed is one InvalidModel line."""

from __future__ import annotations

import mmap
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from zoo.errors import InvalidModel
from zoo.tflite import _Table  # the flatbuffer reader; metadata is one more flatbuffer

MAX_METADATA = 1 << 20
"""Bytes of the metadata flatbuffer (the Task Library's test models carry under 2 KB)."""
MAX_LABEL_FILE = 4 << 20
"""Bytes of one label file, uncompressed (ImageNet's 1,001 labels are 10 KB)."""
MAX_LABELS = 100_000
MAX_MEMBERS = 1_000
"""Files in the appended zip."""
LABEL_FILE_TYPES = {2: "axis", 3: "value"}
"""AssociatedFileType: TENSOR_AXIS_LABELS (a label per score along the last axis), TENSOR_VALUE_LABELS (a label per
value the tensor holds: a class id)."""
NORMALIZATION = 1  # the ProcessUnitOptions union's type of NormalizationOptions


@dataclass
class TensorMetadata:
    name: str | None = None
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    label_file: str | None = None  # the first TENSOR_AXIS_LABELS or TENSOR_VALUE_LABELS file


@dataclass
class Metadata:
    name: str | None
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]
    files: dict[str, bytes]  # the label files the tensors name, by name, read from the appended zip

    def labels(self, tensor: TensorMetadata) -> list[str] | None:
        """The tensor's label file as lines (blank lines at the end dropped; a label map's "???" gaps kept)."""
        data = self.files.get(tensor.label_file or "")
        if data is None:
            return None
        lines = data.decode("utf-8", "replace").splitlines()
        while lines and not lines[-1].strip():
            lines.pop()
        return [line.strip() for line in lines]


def read(path: str | Path) -> Metadata | None:
    """The metadata of a .tflite file (one tflite.inspect has read), or None when it has none."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return _read(path, data)


def _read(path: str | Path, data) -> Metadata | None:
    try:
        buffer = _metadata_buffer(data)
        if buffer is None:
            return None
        if len(buffer) > MAX_METADATA:
            raise InvalidModel(f"{path}: its TFLite metadata is {len(buffer):,} bytes, over zoo's {MAX_METADATA:,}")
        if len(buffer) < 8 or buffer[4:8] != b"M001":
            raise InvalidModel(f"{path}: its TFLITE_METADATA buffer is not TFLite Model Metadata (no M001 identifier)")
        root = _Table(buffer, struct.unpack_from("<I", buffer, 0)[0])
        subgraphs = root.tables(3)
        inputs = [_tensor(t) for t in subgraphs[0].tables(2)] if subgraphs else []
        outputs = [_tensor(t) for t in subgraphs[0].tables(3)] if subgraphs else []
        name = root.string(0)
    except (struct.error, IndexError, UnicodeDecodeError) as e:
        raise InvalidModel(f"{path}: its TFLite metadata is damaged ({e})") from None
    wanted = {t.label_file for t in (*inputs, *outputs) if t.label_file}
    return Metadata(name, inputs, outputs, _zipped(path, wanted) if wanted else {})


def _metadata_buffer(data) -> bytes | None:
    model = _Table(data, struct.unpack_from("<I", data, 0)[0])
    buffers = model.tables(4)
    for entry in model.tables(6):
        if entry.string(0) == "TFLITE_METADATA":
            index = entry.scalar(1, "I")
            if not 0 <= index < len(buffers):
                raise IndexError(f"metadata buffer {index} of {len(buffers)}")
            buffer = buffers[index]
            offset, size = buffer.scalar(1, "Q"), buffer.scalar(2, "Q")
            if offset > 1:  # a large model's buffer lies after the flatbuffer
                if size > MAX_METADATA or offset + size > len(data):
                    raise IndexError(f"metadata at {offset:,} + {size:,} outside the file")
                return bytes(data[offset:offset + size])
            if buffer.length(0) > MAX_METADATA:
                return bytes(MAX_METADATA + 1)  # refused by its size below, unread
            return bytes(buffer.vector(0, "B")) or None
    return None


def _tensor(t: _Table) -> TensorMetadata:
    out = TensorMetadata(name=t.string(0))
    for unit in t.tables(4):
        options = unit.table(1)
        if options is None:
            continue
        if unit.scalar(0, "B") == NORMALIZATION:
            out.mean, out.std = options.vector(0, "f"), options.vector(1, "f")
    out.label_file = next((f.string(0) for f in t.tables(6) if f.scalar(2, "b") in LABEL_FILE_TYPES), None)
    return out


def _zipped(path: str | Path, names: set[str]) -> dict[str, bytes]:
    """The named files of the zip appended to the model, each at most MAX_LABEL_FILE bytes once inflated; none when no
    zip is appended (a compiler's output keeps the metadata but drops the zip, as Vela does)."""
    if not zipfile.is_zipfile(path):
        return {}
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > MAX_MEMBERS:
                raise InvalidModel(f"{path}: the zip appended to it lists {len(members):,} files, over zoo's {MAX_MEMBERS:,}")
            found = {}
            for member in members:
                if member.filename in names:
                    with archive.open(member) as f:
                        content = f.read(MAX_LABEL_FILE + 1)
                    if len(content) > MAX_LABEL_FILE or content.count(b"\n") > MAX_LABELS:
                        raise InvalidModel(f"{path}: its label file {member.filename!r} is over zoo's "
                                           f"{MAX_LABEL_FILE:,} bytes or {MAX_LABELS:,} lines")
                    found[member.filename] = content
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as e:
        raise InvalidModel(f"{path}: its metadata names {', '.join(sorted(names))} but the zip appended to it cannot "
                           f"be read ({e})") from None
    missing = names - found.keys()
    if missing:
        raise InvalidModel(f"{path}: its metadata names {', '.join(sorted(missing))}, which the zip appended to it lacks")
    return found
