"""Checks a built model must pass before it is accepted: I/O, integer-only compute, agreement with float."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from zoo.tflite import ModelInfo
from zoo.convert.record import Check
from zoo.manifest import Artifact, Manifest


def expected_shapes(m: Manifest, a: Artifact, size: int) -> tuple[list[int], list[int]]:
    """Input and output shapes at a square input `size` (full-resolution outputs follow it; strided ones divide it)."""
    n, h, w, c = m.input.shape
    out = m.output_of(a)
    shape = list(out.shape)
    full_res = shape[1] == h
    spatial = size if full_res else math.ceil(size / out.output_stride) if out.output_stride else shape[1]
    shape[1:3] = [spatial, spatial] if len(shape) > 2 else shape[1:3]
    return [n, size, size, c], shape


def io_check(info: ModelInfo, m: Manifest, a: Artifact, size: int) -> Check:
    want_in, want_out = expected_shapes(m, a, size)
    (i,), (o,) = info.inputs, info.outputs
    got = f"in {i.dtype} {i.shape}, out {o.dtype} {o.shape}"
    want = f"in {a.input_dtype} {want_in}, out {a.output_dtype} {want_out}"
    ok = (i.dtype, i.shape, o.dtype, o.shape) == (a.input_dtype, want_in, a.output_dtype, want_out)
    return Check("io", ok, got if ok else f"{got}; manifest wants {want}")


def integer_check(info: ModelInfo) -> Check:
    floats = info.float_ops
    return Check("integer-only", not floats,
                 "every compute op is integer" if not floats else f"float compute ops: {', '.join(sorted(set(floats)))}")


def classes(batch: np.ndarray) -> np.ndarray:
    """Class ids from a batch-of-one output: argmax over the last axis of logits, or the ids themselves."""
    y = np.asarray(batch)[0]
    return y.argmax(-1) if y.ndim == 3 else y


def tflite_runner(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    """A function from one float input (H, W, C) to the model's batch output, quantizing the input if needed."""
    from zoo.preprocess import as_input
    from zoo.litert import allocated

    interpreter = allocated(path)
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]

    def run(x: np.ndarray) -> np.ndarray:
        interpreter.set_tensor(inp["index"], as_input(x, inp))
        interpreter.invoke()
        return interpreter.get_tensor(out["index"])

    return run


def agreement(reference: Callable[[np.ndarray], np.ndarray], candidate: Callable[[np.ndarray], np.ndarray],
              samples: list[np.ndarray], floor: float, what: str = "the float model") -> Check:
    """Share of pixels whose class is the same for both models, over the calibration images."""
    same = total = 0
    for x in samples:
        a, b = classes(reference(x)), classes(candidate(x))
        same += int((a == b).sum())
        total += a.size
    share = same / total
    return Check("agreement", share >= floor, f"{share:.4f} of pixels agree with {what} on {len(samples)} image(s) (floor {floor})")


def compare(reference: Path, rebuilt: Path, samples: list[np.ndarray], floor: float, compiled: bool) -> tuple[list[Check], bool]:
    """`zoo build --check`: the rebuilt file against the recorded one by behaviour; and whether the bytes match."""
    from zoo.tflite import inspect

    ref, new = inspect(reference), inspect(rebuilt)
    io = [(t.dtype, t.shape) for t in (*ref.inputs, *ref.outputs)], [(t.dtype, t.shape) for t in (*new.inputs, *new.outputs)]
    ops = [op.name for op in ref.ops], [op.name for op in new.ops]
    same_bytes = reference.read_bytes() == rebuilt.read_bytes()
    checks = [
        Check("same-io", io[0] == io[1], f"recorded {io[0]}, rebuilt {io[1]}"),
        Check("same-ops", ops[0] == ops[1], f"{len(ops[1])} ops in the same order" if ops[0] == ops[1]
              else f"op lists differ: recorded {ref.histogram}, rebuilt {new.histogram}"),
    ]
    if not compiled:
        agree = agreement(tflite_runner(reference), tflite_runner(rebuilt), samples, floor, "the recorded file")
        checks.append(Check("agreement-with-recorded", agree.passed, agree.detail))
    return checks, same_bytes
