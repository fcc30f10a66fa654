"""Checks a built model must pass before it is accepted: I/O, integer-only compute, agreement with float."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from zoo.tflite import ModelInfo
from zoo.convert.record import Check
from zoo.manifest import Artifact, Manifest
from zoo.tasks import get_task
from zoo.tasks.base import Context


def expected_shapes(m: Manifest, a: Artifact, size: int) -> tuple[list[list[int]], list[list[int]]]:
    """Input and output shapes at a square input `size` (full-resolution outputs follow it; strided ones divide it);
    at the manifest's own input height, the manifest's own shapes (a landscape input stays 144x256)."""
    h = m.input.shape[1]
    if size == h:
        return [list(inp.shape) for inp in m.inputs], [list(out.shape) for out in m.outputs_of(a)]
    inputs = []
    for inp in m.inputs:
        shape = list(inp.shape)
        axes = (2, 3) if inp.layout == "NCHW" else (1, 2)
        for axis in axes:
            shape[axis] = size
        inputs.append(shape)
    outputs = []
    for out in m.outputs_of(a):
        shape = list(out.shape)
        if len(shape) > 2 and out.kind in ("class-ids", "logits", "probabilities"):  # a spatial map follows the input
            spatial = size if shape[1] == h else math.ceil(size / out.output_stride) if out.output_stride else shape[1]
            shape[1:3] = [spatial, spatial]
        outputs.append(shape)
    return inputs, outputs


def io_check(info: ModelInfo, m: Manifest, a: Artifact, size: int) -> Check:
    """Every input and output of the file against the manifest: count, dtype and shape."""
    want_in, want_out = expected_shapes(m, a, size)
    got = "; ".join([*(f"in {t.dtype} {t.shape}" for t in info.inputs), *(f"out {t.dtype} {t.shape}" for t in info.outputs)])
    want = "; ".join([*(f"in {a.input_dtype} {s}" for s in want_in), *(f"out {a.output_dtype} {s}" for s in want_out)])
    ok = [(t.dtype, t.shape) for t in info.inputs] == [(a.input_dtype, s) for s in want_in] and \
        sorted((t.dtype, t.shape) for t in info.outputs) == sorted((a.output_dtype, s) for s in want_out)
    return Check("io", ok, got if ok else f"{got}; manifest wants {want}")


def integer_check(info: ModelInfo) -> Check:
    floats = info.float_ops
    return Check("integer-only", not floats,
                 "every compute op is integer" if not floats else f"float compute ops: {', '.join(sorted(set(floats)))}")


Runner = Callable[[np.ndarray], list[np.ndarray]]


def tflite_runner(path: Path) -> Runner:
    """A function from one float input (H, W, C) to the model's batch outputs (numbers, in the file's order),
    quantizing the input if needed."""
    from zoo.litert import allocated
    from zoo.preprocess import as_input, values

    interpreter = allocated(path)
    inp, outs = interpreter.get_input_details()[0], interpreter.get_output_details()

    def run(x: np.ndarray) -> list[np.ndarray]:
        interpreter.set_tensor(inp["index"], as_input(x, inp))
        interpreter.invoke()
        return [values(o, interpreter.get_tensor(o["index"])) for o in outs]

    return run


def agreement(m: Manifest, reference: Callable, candidate: Runner, samples: list[np.ndarray], floor: float,
              what: str = "the float model") -> Check:
    """How much of what the task decides (pixels, the top-1 class, keypoints) is the same for both models, over the
    calibration images."""
    return agreement_of(m, [(reference(x), candidate(x)) for x in samples], floor, what)


def agreement_of(m: Manifest, outputs: list[tuple], floor: float, what: str = "the float model") -> Check:
    """`agreement` over outputs already computed: (reference's, candidate's) of each image."""
    task = get_task(m.task)
    ctx = Context(m.parsed_head, m.outputs, m.labels)
    same = total = 0
    for ref, cand in outputs:
        agree, count = task.agreement(ref if isinstance(ref, list) else [ref], cand, ctx)
        same, total = same + agree, total + count
    share = same / total
    return Check("agreement", share >= floor, f"{share:.4f} of {task.agreement_unit(ctx)} agree with {what} on "
                                              f"{len(outputs)} image(s) (floor {floor})")


def compare(m: Manifest, reference: Path, rebuilt: Path, samples: list[np.ndarray], floor: float,
            compiled: bool) -> tuple[list[Check], bool]:
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
        agree = agreement(m, tflite_runner(reference), tflite_runner(rebuilt), samples, floor, "the recorded file")
        checks.append(Check("agreement-with-recorded", agree.passed, agree.detail))
    return checks, same_bytes
