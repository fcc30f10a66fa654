"""`zoo init`: a manifest for someone's own .tflite file, read from the file itself (no TensorFlow): its input and
outputs (shapes, dtypes, quantization), size and sha256, the target its operators say, preprocessing derived from the
input's quantization, and the labels. A file with TFLite Model Metadata is described as the Task Library (its reader)
would run it: the metadata's normalisation for a float input, libyuv's bilinear resize, the labels zipped onto the
file. The result is validated before it is returned."""

from __future__ import annotations

from pathlib import Path

from zoo import manifest
from zoo.errors import ZooError, shown, visible
from zoo.hashes import file_digest
from zoo.targets import get_target
from zoo.tasks import TASKS, Task
from zoo.tflite import ModelInfo, TensorInfo, custom_options, inspect
from zoo.tflite_metadata import Metadata, read

INPUT_RANGES = {"-1,1": (-1.0, 1.0), "0,1": (0.0, 1.0), "0,255": (0.0, 255.0)}
INIT_TASKS = tuple(name for name, t in TASKS.items() if type(t).init_kind is not Task.init_kind)
"""The tasks zoo init describes (those that say what kind their outputs are), in the task registry's order."""
POSTPROCESS = "TFLite_Detection_PostProcess"
POSTPROCESSED = ("boxes", "classes", "scores", "count")


def describe(path: Path, name: str, task: str, labels: list[str] | None = None, sources: list[str] | None = None,
             license: str = "unknown", input_range: str = "-1,1") -> dict:
    """The manifest (as data) of the model in `path`; ZooError in one line for what cannot be described."""
    if task not in TASKS:
        raise ZooError(f"unknown task {task!r}", f"zoo init describes {', '.join(INIT_TASKS)}")
    if task not in INIT_TASKS:
        raise ZooError(f"zoo init cannot describe the outputs of {task} models yet",
                       f"it describes {', '.join(INIT_TASKS)}; write this manifest by hand")
    info = inspect(path)
    meta = read(path)
    if len(info.inputs) != 1:
        raise ZooError(f"{path.name} has {len(info.inputs)} inputs; zoo describes models with one image input")
    if not info.outputs:
        raise ZooError(f"{path.name} has no outputs; zoo describes models whose outputs a task reads")
    inp = info.inputs[0]
    target = info.accelerator or "cpu"
    digest = file_digest(path)
    outputs = _outputs(path, info, task)
    for size in outputs[0]["shape"]:  # its classes or keypoints, each named in the head
        _count(size, "classes or keypoints")
    classes = _argmax_channels(info, info.outputs[0]) if outputs[0]["kind"] == "class-ids" else None
    if labels is None and meta:  # the metadata's label file (a detector's label map keeps its gaps and "???")
        labels = next((meta.labels(t) for t in meta.outputs if t.label_file), None)
    artifact = {
        "id": f"{target}-{_precision(info)}", "target": target, "format": "tflite", "precision": _precision(info),
        "input_dtype": inp.dtype, "output_dtype": info.outputs[0].dtype, "file": path.name, "size": digest.size,
        "sha256": digest.sha256, "recipe": "described by zoo init from the file itself",
    }
    if inp.dtype in ("uint8", "int8", "int16") and inp.scale and inp.scale[0]:
        artifact["input_quantization"] = {"scale": inp.scale[0], "zero_point": inp.zero_point[0]}
    if get_target(target).delegate:
        artifact["delegate"] = get_target(target).delegate
    if sources:
        artifact["sources"] = list(sources)
    else:
        artifact["unpublished"] = "described with zoo init; no source given yet (zoo init --source URL)"
    data = {
        "schema_version": manifest.SCHEMA_VERSION, "name": name, "family": name, "task": task,
        "description": f"{name}: {task.replace('-', ' ')} ({path.name}, described by zoo init)",
        "license": license, "homepage": sources[0] if sources else "unknown",
        "inputs": [_input(inp, input_range, meta)], "outputs": outputs,
        "head": TASKS[task].init_head(outputs, labels, name, classes), "artifacts": [artifact],
    }
    manifest.parse(data, f"the manifest zoo init would write for {path.name}")  # no {name}.yaml exists yet
    return data


def _input(t: TensorInfo, input_range: str, meta: Metadata | None) -> dict:
    """The image input: layout and colours by shape, and the normalisation that maps pixels 0..255 onto what the
    tensor takes: its quantized range when it has one, raw pixels for an integer input without parameters, the
    metadata's mean and std for a float input that has them, else `input_range` (a float input does not say what it
    was trained on)."""
    shape = list(t.shape)
    if len(shape) == 3:
        layout, channels = "NHW", 1
    elif len(shape) == 4 and shape[3] in (1, 3):
        layout, channels = "NHWC", shape[3]
    elif len(shape) == 4 and shape[1] in (1, 3):
        layout, channels = "NCHW", shape[1]
    else:
        raise ZooError(f"input {t.name!r} has shape {shape}: not an image (N x H x W [x C] with 1 or 3 channels)")
    if t.dtype in ("uint8", "int8") and t.scale and t.scale[0]:
        info = {"uint8": (0, 255), "int8": (-128, 127)}[t.dtype]
        low, high = ((q - t.zero_point[0]) * t.scale[0] for q in info)
    elif t.dtype in ("uint8", "int8"):
        low, high = 0.0, 255.0
    elif meta and meta.inputs and meta.inputs[0].mean and len(meta.inputs[0].std) == len(meta.inputs[0].mean):
        mean, std = meta.inputs[0].mean, meta.inputs[0].std
        if len(mean) not in (1, channels) or not all(std):
            raise ZooError(f"input {t.name!r}: its metadata's normalisation has {len(mean)} means for {channels} channel(s) "
                           "or a zero std")
        return _image_input(t, layout, channels, [round(m, 6) for m in mean] * (channels // len(mean)),
                            [round(1 / s, 10) for s in std] * (channels // len(std)), "libyuv-bilinear")
    else:
        if input_range not in INPUT_RANGES:
            raise ZooError(f"--input-range {shown(input_range)} is not one of {', '.join(INPUT_RANGES)}")
        low, high = INPUT_RANGES[input_range]
    scale = (high - low) / 255
    mean = -low / scale
    return _image_input(t, layout, channels, [round(mean, 6)] * channels, [round(scale, 10)] * channels,
                        "libyuv-bilinear" if meta else "pillow-bilinear")


def _image_input(t: TensorInfo, layout: str, channels: int, mean: list[float], scale: list[float], method: str) -> dict:
    return {"name": t.name or None, "shape": list(t.shape), "layout": layout,
            "color_order": "GRAY" if channels == 1 else "RGB", "dtype": t.dtype,
            "preprocessing": {"resize": "stretch", "resize_method": method, "mean": mean, "scale": scale}}


def _outputs(path: Path, info: ModelInfo, task: str) -> list[dict]:
    """The outputs and their kinds; a detector must end in TFLite_Detection_PostProcess, whose four outputs (boxes,
    classes, scores, count) take their size from its max_detections."""
    if task != "object-detection" or len(info.outputs) != 4 or not any(op.name == POSTPROCESS for op in info.ops):
        return [_output(t, task, info) for t in info.outputs]
    count = custom_options(path, POSTPROCESS).get("max_detections")
    if not isinstance(count, int) or not 0 < count <= 100_000:
        raise ZooError(f"{path.name}: its {POSTPROCESS} does not say how many detections it gives (max_detections)")
    shapes = ([1, count, 4], [1, count], [1, count], [1])
    return [{"name": t.name, "shape": shape, "kind": kind} for t, shape, kind in zip(info.outputs, shapes, POSTPROCESSED)]


def _output(t: TensorInfo, task: str, info: ModelInfo) -> dict:
    """An output and its kind for the task (a SOFTMAX in the graph means scores, not logits)."""
    softmax = any(op.name == "SOFTMAX" for op in info.ops)
    return {"name": t.name, "shape": list(t.shape), "kind": TASKS[task].init_kind(list(t.shape), t.dtype, softmax)}


def _count(n: int, what: str) -> int:
    """A count read from a tensor's shape, refused when its names alone would not fit in a manifest zoo reads (before
    a task makes a name for each: 2^31-1 of them was a MemoryError)."""
    if 4 * n > manifest.MAX_BYTES:  # each name takes at least 4 bytes of YAML ("- x\n")
        raise ZooError(f"the output's shape says {n:,} {what}: more than a manifest of at most "
                       f"{manifest.MAX_BYTES:,} bytes can name")
    return n


def _argmax_channels(info: ModelInfo, out: TensorInfo) -> int | None:
    """The classes an output of class ids chooses among: the channels of the ARG_MAX that makes it (None if none does)."""
    index = next((i for i, t in enumerate(info.tensors) if t is out), None)
    op = next((op for op in info.ops if op.name == "ARG_MAX" and index in op.output_ids), None)
    if op is None or not op.input_ids or not info.tensors[op.input_ids[0]].shape:
        return None
    return _count(info.tensors[op.input_ids[0]].shape[-1], "classes")


def _precision(info: ModelInfo) -> str:
    dtypes = {t for op in info.ops for t in (*op.inputs, *op.outputs)}
    for dtype in ("int8", "uint8", "float16"):
        if dtype in dtypes:
            return dtype
    return "float32"


def read_labels(path: Path) -> list[str]:
    """One label a line (blank lines at the end dropped); no more than a manifest can hold."""
    try:
        with open(path, "rb") as f:
            data = f.read(manifest.MAX_BYTES + 1)
        lines = data.decode("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ZooError(f"cannot read the label file {path} ({type(e).__name__})", "give a UTF-8 text file, one label a line") from None
    if len(data) > manifest.MAX_BYTES:
        raise ZooError(f"the label file {path} is larger than a manifest zoo reads ({manifest.MAX_BYTES:,} bytes)")
    while lines and not lines[-1].strip():
        lines.pop()
    return [line.strip() for line in lines]


def to_yaml(data: dict) -> str:
    """The manifest's text, refused when it is larger than zoo reads back. Readable UTF-8, unless a label holds a
    character a terminal acts on (a bidi override, a zero-width one): then every non-ASCII character is escaped."""
    import yaml

    text = yaml.safe_dump(data, sort_keys=False, width=120, allow_unicode=True)
    if visible(text) != text:
        text = yaml.safe_dump(data, sort_keys=False, width=120, allow_unicode=False)
    size = len(text.encode("utf-8"))
    if size > manifest.MAX_BYTES:
        count = len(data["head"].get("labels", data["head"].get("keypoints", [])))
        raise ZooError(f"the manifest would be {size:,} bytes ({count:,} labels), more than the {manifest.MAX_BYTES:,} "
                       "zoo reads; nothing was written", "shorten the labels: a manifest holds them inline")
    return text
